/**
 * Mining over HTTP/1.x: Bitcoin getwork and getblocktemplate / submitblock, Ethereum eth_getWork,
 * Monero daemon mode (protocol-notes §1.3.4). Every request and response of a keep-alive connection
 * is inspected, so a mining request after ten harmless ones is still caught.
 *
 * - identified: the agent's bytes are HTTP/1.x (a request head parsed). Keep feeding it for the
 *   whole flow: mining findings arrive as detections, possibly many requests later.
 * - rejected: the agent's first bytes are not an HTTP/1.x request.
 *
 * Signals: request headers `X-Mining-Extensions` and a miner User-Agent; response headers
 * `X-Stratum`, `X-Long-Polling`, `X-Reject-Reason`; JSON-RPC bodies (first 16 KiB of each, batches
 * included) classified like stream messages. Over HTTP the Ethereum work methods are the getwork
 * protocol, so EthProxy findings are reported with the `getwork` dialect. A message's header
 * findings are recorded after its body's, so that a body naming `getblocktemplate` names the dialect.
 * Limitation: a response body without length (read until close) is inspected only once 16 KiB of it
 * arrived.
 */
import type { ClassifierReport, Detection, Direction, StratumFacts, StreamClassifier } from '../types.js';
import { BoundedBuffer } from '../bounded-buffer.js';
import { HttpMessageStream, type HttpStreamEvent } from '../http/message-stream.js';
import type { ExtractedFacts } from './extract.js';
import {
  mentionsCoinbaseTransaction,
  methodOfTruncatedBody,
  requestHeadFacts,
  requestHeaderSignals,
  responseHeaderSignals,
  type HeaderSignal,
} from './http-mining-signals.js';
import { parseJsonMessages } from './json-lines.js';
import { findingFromMessage } from './message-finding.js';
import { MiningFindings, type MiningFinding } from './mining-findings.js';

export const MAX_BODY_INSPECTION_BYTES = 16 * 1024;

/** The message currently crossing one direction. */
class MessageInProgress {
  readonly body = new BoundedBuffer(MAX_BODY_INSPECTION_BYTES);
  truncated = false;
  inspected = false;
  headSignals: HeaderSignal[] = [];
  headFacts: ExtractedFacts = {};

  start(headSignals: HeaderSignal[], headFacts: ExtractedFacts): void {
    this.body.clear();
    this.truncated = false;
    this.inspected = false;
    this.headSignals = headSignals;
    this.headFacts = headFacts;
  }

  /** Keeps body bytes up to the cap; true once the cap is reached. */
  addBody(data: Buffer): boolean {
    const room = MAX_BODY_INSPECTION_BYTES - this.body.length;
    this.body.append(data, 0, Math.min(room, data.length));
    if (data.length > room) this.truncated = true;
    return this.truncated;
  }
}

export class HttpMiningClassifier implements StreamClassifier {
  readonly protocol = 'http';
  private state: ClassifierReport['state'] = 'undecided';
  private readonly streams: Record<Direction, HttpMessageStream> = { up: new HttpMessageStream('request'), down: new HttpMessageStream('response') };
  private readonly messages: Record<Direction, MessageInProgress> = { up: new MessageInProgress(), down: new MessageInProgress() };
  private readonly findings = new MiningFindings();

  push(chunk: Buffer, direction: Direction, atMs: number): ClassifierReport {
    if (this.state === 'rejected') return { state: this.state, detections: [] };
    const detections: Detection[] = [];
    for (const event of this.streams[direction].push(chunk)) {
      for (const finding of this.onEvent(event, direction, atMs)) {
        const detection = this.findings.record(finding);
        if (detection !== undefined) detections.push(detection);
      }
    }
    if (this.state === 'undecided') {
      if (this.streams.up.messageCount > 0) this.state = 'identified';
      else if (this.streams.up.failed) this.state = 'rejected';
    }
    return { state: this.state, detections };
  }

  /** Mining facts learnt so far; undefined while no mining was seen. */
  facts(): StratumFacts | undefined {
    return this.findings.facts();
  }

  /** Bytes held across pushes (heads and inspected bodies), for cap checks. */
  get bufferedBytes(): number {
    return this.streams.up.bufferedBytes + this.streams.down.bufferedBytes + this.messages.up.body.length + this.messages.down.body.length;
  }

  private onEvent(event: HttpStreamEvent, direction: Direction, atMs: number): MiningFinding[] {
    const message = this.messages[direction];
    switch (event.kind) {
      case 'request':
        message.start(requestHeaderSignals(event.head), requestHeadFacts(event.head));
        return [];
      case 'response':
        message.start(responseHeaderSignals(event.head), {});
        return [];
      case 'body':
        return message.addBody(event.data) ? this.inspect(message, direction, atMs) : [];
      case 'end':
        return this.inspect(message, direction, atMs);
      case 'error':
      case 'tunnel':
        return [];
    }
  }

  /** Body findings first, then the head's, once per message. */
  private inspect(message: MessageInProgress, direction: Direction, atMs: number): MiningFinding[] {
    if (message.inspected) return [];
    message.inspected = true;
    const fromBody = bodyFindings(message, direction, atMs);
    const fromHead = message.headSignals.map((signal) => ({ ...signal, facts: {}, direction, atMs, countsForAgreement: true }));
    return [...fromBody, ...fromHead].map((finding) => ({ ...finding, facts: { ...message.headFacts, ...finding.facts } }));
  }
}

function bodyFindings(message: MessageInProgress, direction: Direction, atMs: number): MiningFinding[] {
  const body = message.body.view();
  if (body.length === 0) return [];
  if (message.truncated) {
    const request = direction === 'up' ? methodOfTruncatedBody(body) : undefined;
    const finding = request === undefined ? undefined : findingFromMessage(request, direction, atMs);
    if (finding !== undefined) return [asHttpFinding(finding)];
    const template = direction === 'down' && mentionsCoinbaseTransaction(body);
    return template ? [{ dialect: 'getblocktemplate', confidence: 'high', evidence: 'block template with coinbasetxn', facts: {}, direction, atMs, countsForAgreement: true }] : [];
  }
  return parseJsonMessages(body).flatMap((value) => {
    const finding = findingFromMessage(value, direction, atMs);
    return finding === undefined ? [] : [asHttpFinding(finding)];
  });
}

/** Over HTTP the Ethereum work methods are the getwork protocol, not the EthProxy stream. */
function asHttpFinding(finding: MiningFinding): MiningFinding {
  return finding.dialect === 'ethproxy' ? { ...finding, dialect: 'getwork' } : finding;
}
