/**
 * A buffer of known size filled from a stream of chunks. It copies only the bytes it still lacks, so
 * feeding it one byte at a time costs the same as feeding it everything at once, and it can never
 * hold more than the size it was created with.
 */
export class FillBuffer {
  readonly bytes: Buffer;
  private filledLength = 0;

  constructor(size: number) {
    this.bytes = Buffer.alloc(size);
  }

  get filled(): number {
    return this.filledLength;
  }

  get isFull(): boolean {
    return this.filledLength === this.bytes.length;
  }

  /** Copies from `chunk`, starting at `offset`, until full; returns how many bytes it took. */
  fillFrom(chunk: Buffer, offset: number): number {
    const wanted = this.bytes.length - this.filledLength;
    const taken = chunk.copy(this.bytes, this.filledLength, offset, Math.min(chunk.length, offset + wanted));
    this.filledLength += taken;
    return taken;
  }

  /** Empties the buffer for reuse (for fixed-size headers read once per record). */
  clear(): void {
    this.filledLength = 0;
  }
}
