import { BoundedBuffer } from '../bounded-buffer.js';

/**
 * The first `cap` bytes of one direction, kept for signature matching at the start of a stream. It
 * takes what still fits of each chunk and ignores the rest, so its cost is bounded per flow; storage
 * grows with what arrives (an idle flow holds almost nothing).
 */
export class PrefixBuffer {
  private readonly buffer: BoundedBuffer;

  constructor(readonly cap: number) {
    this.buffer = new BoundedBuffer(cap);
  }

  /** Appends what fits; returns true when the buffer changed. */
  append(chunk: Buffer): boolean {
    const room = this.cap - this.buffer.length;
    if (room <= 0 || chunk.length === 0) return false;
    return this.buffer.append(chunk, 0, Math.min(room, chunk.length));
  }

  get full(): boolean {
    return this.buffer.length >= this.cap;
  }

  get size(): number {
    return this.buffer.length;
  }

  view(): Buffer {
    return this.buffer.view();
  }
}
