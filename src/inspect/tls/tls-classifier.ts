/**
 * Streaming TLS classifier: recognises a ClientHello in the `up` bytes, in any chunking, and exposes
 * its facts (SNI, ALPN, versions, JA3, JA4).
 *
 * The first byte picks the path: 0x16 opens a TLS handshake record, a byte with the high bit set may
 * open an SSLv2-compatible hello, anything else is rejected at once. `down` bytes are ignored: the
 * client speaks first in TLS. The classifier raises no detections; comparing the SNI with the
 * CONNECT host and similar checks belong to the caller, which knows the context.
 *
 * Rejections other than `not-tls` (see TlsRejectionReason) are TLS-looking bytes the proxy could not
 * read, including a hello over the 64 KiB cap: callers should treat those flows as opaque and apply
 * their fail-closed policy rather than let them through unclassified.
 */
import type { ClassifierReport, Direction, ProtocolName, StreamClassifier, TlsFacts } from '../types.js';
import { TlsRecordReassembler } from './record-reassembler.js';
import type { HelloReassembler, TlsRejection } from './reassembly.js';
import { Sslv2HelloReassembler, opensSslv2Record } from './sslv2-hello.js';
import { toTlsFacts } from './tls-facts.js';

const CONTENT_TYPE_HANDSHAKE = 0x16;

export class TlsClassifier implements StreamClassifier {
  readonly protocol: ProtocolName = 'tls';
  private state: ClassifierReport['state'] = 'undecided';
  /** Chosen from the first `up` byte; dropped once decided, releasing its buffer. */
  private reassembler: HelloReassembler | undefined;
  private identifiedFacts: TlsFacts | undefined;
  private rejectionReason: TlsRejection | undefined;

  push(chunk: Buffer, direction: Direction, _atMs: number): ClassifierReport {
    if (direction === 'up' && this.state === 'undecided' && chunk.length > 0) this.consume(chunk);
    return { state: this.state, detections: [] };
  }

  /** The hello's facts once `identified`, otherwise `undefined`. */
  facts(): TlsFacts | undefined {
    return this.identifiedFacts;
  }

  /** Why the flow was `rejected`, otherwise `undefined`. */
  get rejection(): TlsRejection | undefined {
    return this.rejectionReason;
  }

  /** Hello bytes held while undecided; never above CLIENT_HELLO_CAP (exposed for tests and metrics). */
  get bufferedBytes(): number {
    return this.reassembler?.bufferedBytes ?? 0;
  }

  private consume(chunk: Buffer): void {
    this.reassembler ??= reassemblerFor(chunk.readUInt8(0));
    if (this.reassembler === undefined) {
      this.reject({ reason: 'not-tls', detail: `first byte 0x${chunk.readUInt8(0).toString(16).padStart(2, '0')}` });
      return;
    }
    const step = this.reassembler.feed(chunk);
    if (step.kind === 'complete') {
      this.state = 'identified';
      this.identifiedFacts = toTlsFacts(step.hello);
      this.reassembler = undefined;
    } else if (step.kind === 'rejected') {
      this.reject({ reason: step.reason, detail: step.detail });
    }
  }

  private reject(rejection: TlsRejection): void {
    this.state = 'rejected';
    this.rejectionReason = rejection;
    this.reassembler = undefined;
  }
}

function reassemblerFor(firstByte: number): HelloReassembler | undefined {
  if (firstByte === CONTENT_TYPE_HANDSHAKE) return new TlsRecordReassembler();
  if (opensSslv2Record(firstByte)) return new Sslv2HelloReassembler();
  return undefined;
}
