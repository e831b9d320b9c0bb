/**
 * A byte buffer that grows on demand up to a hard capacity and never past it: the look-ahead store of
 * streaming classifiers, which must stay bounded whatever a peer sends (protocol-notes §1.1).
 */
export class BoundedBuffer {
  private storage: Buffer = Buffer.alloc(0);
  private used = 0;

  constructor(readonly capacity: number) {}

  get length(): number {
    return this.used;
  }

  /** Appends `source[start, end)`; appends nothing and returns false when that would pass the capacity. */
  append(source: Buffer, start = 0, end = source.length): boolean {
    const needed = this.used + (end - start);
    if (needed > this.capacity) return false;
    if (needed > this.storage.length) {
      const grown = Buffer.alloc(Math.min(this.capacity, Math.max(needed, this.storage.length * 2, 256)));
      this.storage.copy(grown, 0, 0, this.used);
      this.storage = grown;
    }
    source.copy(this.storage, this.used, start, end);
    this.used = needed;
    return true;
  }

  /** The bytes held, without copying; valid until the next append or clear. */
  view(): Buffer {
    return this.storage.subarray(0, this.used);
  }

  /** Forgets the content but keeps the storage for the next message. */
  clear(): void {
    this.used = 0;
  }
}
