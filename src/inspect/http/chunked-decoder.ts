/**
 * Incremental decoder of the chunked transfer coding (RFC 9112 §7.1). It keeps only counters, never
 * body bytes: data comes back as slices of the input. Chunk extensions and trailer fields are skipped
 * (with caps), a bare LF is accepted where CRLF is expected, as servers commonly do.
 */

export type ChunkedStep =
  /** `consumed` bytes of the input were used; `data` are the decoded body pieces among them. */
  | { kind: 'progress'; consumed: number; data: Buffer[] }
  /** The last chunk and trailer section ended after `consumed` bytes; the rest belongs to the next message. */
  | { kind: 'done'; consumed: number; data: Buffer[] }
  /** The framing broke; `data` are the body pieces decoded before the fault (as byte-by-byte input would give). */
  | { kind: 'error'; reason: string; data: Buffer[] };

/** Chunk sizes beyond 2^48 bytes are not real bodies; the cap also keeps the arithmetic exact. */
const MAX_SIZE_DIGITS = 12;
const MAX_EXTENSION_BYTES = 4096;
const MAX_TRAILER_BYTES = 64 * 1024;

const CR = 0x0d;
const LF = 0x0a;

type State = 'size' | 'extension' | 'size-lf' | 'data' | 'data-cr' | 'data-lf' | 'trailer-start' | 'trailer-line' | 'trailer-end-lf' | 'done';

function hexValue(byte: number): number {
  if (byte >= 0x30 && byte <= 0x39) return byte - 0x30;
  const lower = byte | 0x20;
  return lower >= 0x61 && lower <= 0x66 ? lower - 0x61 + 10 : -1;
}

export class ChunkedDecoder {
  private state: State = 'size';
  private size = 0;
  private sizeDigits = 0;
  private remaining = 0;
  private lineBytes = 0;
  private trailerBytes = 0;

  /** Decodes from the start of `input`; after `done` the decoder is spent (use a new one per message). */
  push(input: Buffer): ChunkedStep {
    const data: Buffer[] = [];
    if (this.finished()) return { kind: 'done', consumed: 0, data };
    let index = 0;
    while (index < input.length) {
      if (this.state === 'data') {
        const take = Math.min(this.remaining, input.length - index);
        data.push(input.subarray(index, index + take));
        index += take;
        this.remaining -= take;
        if (this.remaining === 0) this.state = 'data-cr';
        continue;
      }
      const error = this.step(input[index] ?? 0);
      index++;
      if (error !== undefined) return { kind: 'error', reason: error, data };
      if (this.finished()) return { kind: 'done', consumed: index, data };
    }
    return { kind: 'progress', consumed: index, data };
  }

  /** Advances over one framing byte; returns an error reason when the framing is broken. */
  private step(byte: number): string | undefined {
    switch (this.state) {
      case 'size': {
        const digit = hexValue(byte);
        if (digit >= 0) {
          if (++this.sizeDigits > MAX_SIZE_DIGITS) return 'chunk size too large';
          this.size = this.size * 16 + digit;
          return undefined;
        }
        if (this.sizeDigits === 0) return 'missing chunk size';
        if (byte === CR) this.state = 'size-lf';
        else if (byte === LF) this.endSizeLine();
        else if (byte === 0x3b || byte === 0x20 || byte === 0x09) this.state = 'extension';
        else return 'invalid chunk size';
        return undefined;
      }
      case 'extension':
        if (byte === LF) this.endSizeLine();
        else if (byte === CR) this.state = 'size-lf';
        else if (++this.lineBytes > MAX_EXTENSION_BYTES) return 'chunk extension too long';
        return undefined;
      case 'size-lf':
        if (byte !== LF) return 'expected LF after chunk size';
        this.endSizeLine();
        return undefined;
      case 'data-cr':
        if (byte === CR) this.state = 'data-lf';
        else if (byte === LF) this.state = 'size';
        else return 'expected CRLF after chunk data';
        return undefined;
      case 'data-lf':
        if (byte !== LF) return 'expected LF after chunk data';
        this.state = 'size';
        return undefined;
      case 'trailer-start':
        if (byte === CR) this.state = 'trailer-end-lf';
        else if (byte === LF) this.state = 'done';
        else this.state = 'trailer-line';
        return this.countTrailerByte();
      case 'trailer-line':
        if (byte === LF) this.state = 'trailer-start';
        return this.countTrailerByte();
      case 'trailer-end-lf':
        if (byte !== LF) return 'expected LF after trailer section';
        this.state = 'done';
        return undefined;
      case 'data':
      case 'done':
        return undefined;
    }
  }

  /** A method rather than an inline test: `step` changes the state behind the compiler's narrowing. */
  private finished(): boolean {
    return this.state === 'done';
  }

  private endSizeLine(): void {
    this.lineBytes = 0;
    if (this.size === 0) {
      this.state = 'trailer-start';
    } else {
      this.state = 'data';
      this.remaining = this.size;
    }
    this.size = 0;
    this.sizeDigits = 0;
  }

  private countTrailerByte(): string | undefined {
    return ++this.trailerBytes > MAX_TRAILER_BYTES ? 'trailer section too large' : undefined;
  }
}
