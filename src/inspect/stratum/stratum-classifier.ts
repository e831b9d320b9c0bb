/**
 * Streaming classifier for mining protocols on a raw TCP flow: JSON-line dialects (Stratum V1,
 * CryptoNote, EthProxy, EthereumStratum 1/2, getwork-style JSON, CoinHive) in both directions, and
 * Stratum V2 (plaintext SetupConnection, encrypted handshake sizes).
 *
 * - identified: on the first mining message of either direction (the first login or subscribe
 *   suffices; no share needs to be seen). Detections follow `MiningFindings`' policy: one per rise in
 *   confidence, both directions agreeing raising it a level.
 * - rejected: when the agent's first bytes are neither JSON nor Stratum V2 (TLS, `SSH-`, an HTTP
 *   method: HTTP mining is `HttpMiningClassifier`'s job), or the destination speaks first with
 *   something other than JSON (mining clients always speak first).
 * - undecided otherwise, including JSON-RPC that is not mining: it could still turn into mining, and
 *   watching it costs a bounded buffer per direction.
 *
 * Feed one push per socket read: the encrypted Stratum V2 signature depends on write sizes (see
 * `stratum-v2.ts`); everything else works with any chunking.
 */
import type { ClassifierReport, Detection, Direction, StratumFacts, StreamClassifier } from '../types.js';
import { JsonMessageFramer, parseJsonMessages, type FramerEvent } from './json-lines.js';
import { findingFromMessage } from './message-finding.js';
import { MiningFindings, type MiningFinding } from './mining-findings.js';
import { StratumV2Detector, type StratumV2Finding } from './stratum-v2.js';

export class StratumClassifier implements StreamClassifier {
  readonly protocol = 'stratum';
  private state: ClassifierReport['state'] = 'undecided';
  private readonly framers: Record<Direction, JsonMessageFramer> = { up: new JsonMessageFramer(), down: new JsonMessageFramer() };
  /** How each direction's first message began; undefined until its first non-whitespace byte. */
  private readonly opening: Record<Direction, 'json' | 'not-json' | undefined> = { up: undefined, down: undefined };
  private sawUpBytes = false;
  private completeUpMessages = 0;
  private readonly stratumV2 = new StratumV2Detector();
  private readonly findings = new MiningFindings();

  push(chunk: Buffer, direction: Direction, atMs: number): ClassifierReport {
    if (this.state === 'rejected') return { state: this.state, detections: [] };
    if (direction === 'up' && chunk.length > 0) this.sawUpBytes = true;
    const detections: Detection[] = [];
    const keep = (detection: Detection | undefined): void => {
      if (detection === undefined) return;
      detections.push(detection);
      this.state = 'identified';
    };
    for (const finding of this.stratumV2.push(chunk, direction)) keep(this.findings.record(stratumV2Finding(finding, direction, atMs)));
    for (const event of this.framers[direction].push(chunk)) {
      this.noteOpening(event, direction);
      // Decided per event: JSON after a non-JSON opening (an HTTP body, say) must not count.
      if (this.state === 'undecided' && this.cannotBeMining()) {
        this.state = 'rejected';
        break;
      }
      if (direction === 'up' && (event.kind === 'message' || event.kind === 'invalid')) this.completeUpMessages++;
      if (event.kind === 'message') {
        const finding = findingFromMessage(event.value, direction, atMs);
        if (finding !== undefined) keep(this.findings.record(finding));
      }
    }
    if (this.state === 'undecided' && this.cannotBeMining()) this.state = 'rejected';
    return { state: this.state, detections };
  }

  /** What the flow has shown so far; undefined until a first mining message. */
  facts(): StratumFacts | undefined {
    return this.findings.facts();
  }

  /**
   * True once the agent's first complete message was judged without a mining finding: a dispatcher
   * can then call the flow something else and keep this classifier watching, instead of waiting.
   */
  get firstMessageWasNotMining(): boolean {
    return this.state === 'undecided' && this.completeUpMessages > 0;
  }

  /** Bytes held across pushes (JSON framers and the Stratum V2 frame), for cap checks. */
  get bufferedBytes(): number {
    return this.framers.up.bufferedBytes + this.framers.down.bufferedBytes + this.stratumV2.bufferedBytes;
  }

  private noteOpening(event: FramerEvent, direction: Direction): void {
    if (this.opening[direction] === undefined) this.opening[direction] = event.kind === 'not-json' ? 'not-json' : 'json';
  }

  private cannotBeMining(): boolean {
    if (this.opening.up === 'not-json' && !this.stratumV2.alive) return true;
    // Every mining dialect, Stratum V2 included, has the client speak first.
    return this.opening.down === 'not-json' && !this.sawUpBytes;
  }
}

function stratumV2Finding(finding: StratumV2Finding, direction: Direction, atMs: number): MiningFinding {
  return {
    dialect: finding.dialect,
    confidence: finding.confidence,
    evidence: finding.reason,
    facts: finding.agent !== undefined ? { agent: finding.agent } : {},
    direction,
    atMs,
    countsForAgreement: false,
  };
}

/**
 * Inspects one whole message (a WebSocket text message, an HTTP body): every JSON value in it is
 * classified and the strongest mining finding comes back as a detection, or undefined.
 */
export function inspectMessage(text: string, direction: Direction, atMs: number): Detection | undefined {
  const findings = new MiningFindings();
  let strongest: Detection | undefined;
  for (const message of parseJsonMessages(text)) {
    const finding = findingFromMessage(message, direction, atMs);
    strongest = (finding === undefined ? undefined : findings.record(finding)) ?? strongest;
  }
  return strongest;
}
