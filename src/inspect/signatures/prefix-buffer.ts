/**
 * The first `cap` bytes of one direction, kept for signature matching at the start of a stream. Grows
 * by copying only until the cap; after that it ignores input, so its cost is bounded per flow.
 */
export class PrefixBuffer {
  private bytes: Buffer;
  private length = 0;

  constructor(readonly cap: number) {
    this.bytes = Buffer.alloc(cap);
  }

  /** Appends what fits; returns true when the buffer changed. */
  append(chunk: Buffer): boolean {
    if (this.length >= this.cap || chunk.length === 0) return false;
    const take = Math.min(chunk.length, this.cap - this.length);
    chunk.copy(this.bytes, this.length, 0, take);
    this.length += take;
    return true;
  }

  get full(): boolean {
    return this.length >= this.cap;
  }

  get size(): number {
    return this.length;
  }

  view(): Buffer {
    return this.bytes.subarray(0, this.length);
  }
}
