/**
 * A bounds-checked cursor over a byte buffer, for parsing hostile wire formats.
 *
 * Every read returns `undefined` instead of throwing or reading past the end, so a parser built on it
 * cannot go out of bounds whatever lengths the input claims; the parser turns `undefined` into an
 * error value.
 */
export class ByteReader {
  private offset = 0;

  constructor(private readonly bytes: Buffer) {}

  get remaining(): number {
    return this.bytes.length - this.offset;
  }

  u8(): number | undefined {
    const value = this.bytes[this.offset];
    if (value === undefined) return undefined;
    this.offset += 1;
    return value;
  }

  u16(): number | undefined {
    if (this.remaining < 2) return undefined;
    const value = this.bytes.readUInt16BE(this.offset);
    this.offset += 2;
    return value;
  }

  /** The next `length` bytes as a view (no copy). */
  take(length: number): Buffer | undefined {
    if (length > this.remaining) return undefined;
    const view = this.bytes.subarray(this.offset, this.offset + length);
    this.offset += length;
    return view;
  }

  /** Bytes with a one-byte length prefix (TLS `opaque x<0..2^8-1>`). */
  opaque8(): Buffer | undefined {
    const length = this.u8();
    return length === undefined ? undefined : this.take(length);
  }

  /** Bytes with a two-byte length prefix (TLS `opaque x<0..2^16-1>`). */
  opaque16(): Buffer | undefined {
    const length = this.u16();
    return length === undefined ? undefined : this.take(length);
  }

  /** Reads everything left as two-byte values; `undefined` when an odd byte is left over. */
  u16List(): number[] | undefined {
    if (this.remaining % 2 !== 0) return undefined;
    const values: number[] = [];
    for (let value = this.u16(); value !== undefined; value = this.u16()) values.push(value);
    return values;
  }

  /** Reads everything left as one-byte values. */
  u8List(): number[] {
    const rest = this.bytes.subarray(this.offset);
    this.offset = this.bytes.length;
    return [...rest];
  }
}
