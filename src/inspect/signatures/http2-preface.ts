import type { ClassifierReport, Direction, StreamClassifier } from '../types.js';

/** HTTP/2 with prior knowledge: the agent opens with the 24-byte preface (RFC 9113 §3.4). */
const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export class Http2PrefaceClassifier implements StreamClassifier {
  readonly protocol = 'http2' as const;
  private matched = 0;
  private state: ClassifierReport['state'] = 'undecided';

  push(chunk: Buffer, direction: Direction): ClassifierReport {
    if (this.state !== 'undecided' || direction !== 'up') return { state: this.state, detections: [] };
    const take = Math.min(chunk.length, PREFACE.length - this.matched);
    if (!chunk.subarray(0, take).equals(PREFACE.subarray(this.matched, this.matched + take))) {
      this.state = 'rejected';
    } else {
      this.matched += take;
      if (this.matched === PREFACE.length) this.state = 'identified';
    }
    return { state: this.state, detections: [] };
  }
}
