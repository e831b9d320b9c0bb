/**
 * Streaming inspector for a WebSocket connection after its 101 response.
 *
 * Each direction is decoded into messages (unmasked, reassembled, inflated). Every message goes to the
 * injected `onMessage` hook, where inner classifiers (stratum, SSH, ...) can look at it, and through the
 * inspector's own tunnel signatures: SSH or TLS carried as the payload, chisel and wstunnel.
 */
import type { ClassifierReport, Detection, Direction, StreamClassifier } from '../types.js';
import type { Finding } from './finding.js';
import { perMessageDeflateParams, type WebSocketHandshakeInfo } from './handshake.js';
import {
  DEFAULT_WEBSOCKET_LIMITS,
  WebSocketMessageStream,
  type MessageStreamEvent,
  type WebSocketLimits,
} from './message-stream.js';
import { handshakeFindings, payloadFindings } from './signatures.js';

export { parseWebSocketHandshake } from './handshake.js';
export type { ParsedWebSocketHandshake, WebSocketHandshakeInfo } from './handshake.js';
export type { WebSocketLimits } from './message-stream.js';

/** How complete a message handed to the hook is. */
export interface WebSocketMessageInfo {
  /** The message was longer than `maxMessageBytes`; the payload is its beginning. */
  truncated: boolean;
  /** Inflated after the compression window was lost: bytes copied from that window read as zeros. */
  approximate: boolean;
}

/**
 * Called synchronously for each complete message with its decoded payload (at most `maxMessageBytes`).
 * Detections it returns are added to the current report. It must not throw.
 */
export type WebSocketMessageHook = (
  payload: Buffer,
  isText: boolean,
  direction: Direction,
  atMs: number,
  info: WebSocketMessageInfo,
) => Detection[] | void;

export interface WebSocketInspectorOptions {
  onMessage?: WebSocketMessageHook;
  limits?: Partial<WebSocketLimits>;
}

/**
 * State: `identified` from the first well-formed frame; `rejected` when the framing breaks before any
 * (the bytes after the 101 are not WebSocket). A framing error raises `protocol_mismatch` and ends
 * decoding of both directions, as it ends the connection for a conforming endpoint.
 */
export class WebSocketInspector implements StreamClassifier {
  readonly protocol = 'websocket';
  private readonly streams: Record<Direction, WebSocketMessageStream>;
  private readonly onMessage: WebSocketMessageHook | undefined;
  /** Handshake findings, raised with the first push. */
  private pendingFindings: Finding[];
  private readonly raised = new Set<string>();
  private state: ClassifierReport['state'] = 'undecided';

  /**
   * Push an empty chunk right after construction to report what the handshake alone reveals (chisel,
   * wstunnel) even if no frame ever follows.
   */
  constructor(handshake: WebSocketHandshakeInfo, options: WebSocketInspectorOptions = {}) {
    const limits = { ...DEFAULT_WEBSOCKET_LIMITS, ...options.limits };
    const deflate = perMessageDeflateParams(handshake.extensions);
    this.streams = {
      up: new WebSocketMessageStream('up', deflate?.up, limits),
      down: new WebSocketMessageStream('down', deflate?.down, limits),
    };
    this.onMessage = options.onMessage;
    this.pendingFindings = handshakeFindings(handshake.subprotocols ?? []);
  }

  /** Bytes held between pushes across both directions; bounded by the limits. */
  get bufferedBytes(): number {
    return this.streams.up.bufferedBytes + this.streams.down.bufferedBytes;
  }

  push(chunk: Buffer, direction: Direction, atMs: number): ClassifierReport {
    const detections: Detection[] = [];
    // The handshake is the client's request, hence `up`.
    for (const finding of this.pendingFindings) this.raise(detections, finding, 'up', atMs);
    this.pendingFindings = [];
    if (this.failed()) return { state: this.state, detections };

    const stream = this.streams[direction];
    for (const event of stream.push(chunk)) this.handle(event, detections, direction, atMs);
    if (this.state === 'undecided' && stream.sawFrame) this.state = 'identified';
    // Framing that breaks before a single good frame means the peer never spoke WebSocket at all.
    if (stream.error !== undefined && !this.streams.up.sawFrame && !this.streams.down.sawFrame) {
      this.state = 'rejected';
    }
    return { state: this.state, detections };
  }

  private handle(event: MessageStreamEvent, detections: Detection[], direction: Direction, atMs: number): void {
    switch (event.kind) {
      case 'message':
        for (const finding of payloadFindings(event.payload, direction)) {
          this.raise(detections, finding, direction, atMs);
        }
        if (this.onMessage !== undefined) {
          const info = { truncated: event.truncated, approximate: event.approximate };
          detections.push(...(this.onMessage(event.payload, event.isText, direction, atMs, info) ?? []));
        }
        return;
      case 'undecodable':
        this.raise(detections, undecodableFinding(event.reason, direction), direction, atMs);
        return;
      case 'error':
        this.raise(
          detections,
          {
            key: 'protocol-error',
            type: 'protocol_mismatch',
            confidence: 'medium',
            evidence: `WebSocket framing error (${direction}): ${event.error.detail}`,
          },
          direction,
          atMs,
        );
        return;
    }
  }

  /** After a framing error the connection is dead for its endpoints; both directions are ignored. */
  private failed(): boolean {
    return this.streams.up.error !== undefined || this.streams.down.error !== undefined;
  }

  private raise(detections: Detection[], finding: Finding, direction: Direction, atMs: number): void {
    if (this.raised.has(finding.key)) return;
    this.raised.add(finding.key);
    detections.push({
      type: finding.type,
      confidence: finding.confidence,
      evidence: finding.evidence,
      direction,
      atMs,
    });
  }
}

/** A compressed message the inspector could not read is a blind spot worth an event, once per direction. */
function undecodableFinding(reason: 'inflate-too-large' | 'inflate-corrupt', direction: Direction): Finding {
  return {
    key: `undecodable-${direction}`,
    type: 'websocket_payload',
    confidence: 'low',
    evidence:
      reason === 'inflate-too-large'
        ? `compressed WebSocket message (${direction}) inflates past the inspection limit; not inspected`
        : `compressed WebSocket message (${direction}) is not valid DEFLATE; not inspected`,
  };
}
