/**
 * Incremental reader of the SSH identification line (RFC 4253 §4.2):
 * `SSH-protoversion-softwareversion[ SP comments]` + CRLF (a bare LF is accepted too), at most 255 bytes
 * including the line ending.
 *
 * A server may send other text lines before its identification; a client must not. The reader is told
 * which rule applies. Pre-banner lines are skipped without being buffered, so memory stays at one
 * identification line whatever is fed.
 */

/** RFC 4253 §4.2: the identification line, CR LF included, is at most 255 bytes. */
export const MAX_IDENTIFICATION_LINE_BYTES = 255;
/** Give up on a server that has sent this much pre-banner text without an identification line. */
export const MAX_PRE_BANNER_BYTES = 8 * 1024;

const PREFIX = Buffer.from('SSH-', 'ascii');
const LF = 0x0a;
const CR = 0x0d;

export interface IdentificationLine {
  /** The whole line without its line ending, e.g. `SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u5`. */
  banner: string;
  /** `2.0`, `1.99`, or something odd such as `chisel` (from `SSH-chisel-v3-client`). */
  protoVersion: string;
  softwareVersion: string;
  comments?: string;
}

export type IdentificationStep =
  | { status: 'need-more' }
  /** `rest` holds the bytes of the chunk after the line ending (the start of the binary packets). */
  | { status: 'done'; line: IdentificationLine; rest: Buffer }
  | { status: 'not-ssh'; reason: string };

export class IdentificationReader {
  /** Bytes of the current line while it may still be the identification line (starts with `SSH-`). */
  private candidate: number[] = [];
  /** The current line is pre-banner text: discard bytes until its LF. */
  private skippingLine = false;
  private preBannerBytes = 0;
  private finished: IdentificationStep | undefined;

  /** @param allowPreBanner true for the side speaking as server (it may send text lines first). */
  constructor(private readonly allowPreBanner: boolean) {}

  push(chunk: Buffer): IdentificationStep {
    // Once decided, the reader has nothing more to say (a finished `done` carries an empty `rest`).
    if (this.finished) return this.finished;
    for (let i = 0; i < chunk.length; i++) {
      const step = this.consumeByte(chunk[i] ?? 0);
      if (step.status === 'need-more') continue;
      this.finished = step;
      return step.status === 'done' ? { ...step, rest: chunk.subarray(i + 1) } : step;
    }
    return { status: 'need-more' };
  }

  private consumeByte(byte: number): IdentificationStep {
    if (this.skippingLine) return this.consumePreBannerByte(byte);
    const position = this.candidate.length;
    if (position < PREFIX.length && byte !== PREFIX[position]) {
      if (!this.allowPreBanner) return { status: 'not-ssh', reason: 'first line does not start with "SSH-"' };
      // Not the identification line after all: what was buffered is pre-banner text.
      this.preBannerBytes += position;
      this.candidate = [];
      this.skippingLine = true;
      return this.consumePreBannerByte(byte);
    }
    if (byte === LF) return finishLine(this.candidate);
    this.candidate.push(byte);
    // One byte of the limit is kept for the LF.
    if (this.candidate.length >= MAX_IDENTIFICATION_LINE_BYTES) {
      return { status: 'not-ssh', reason: `identification line longer than ${MAX_IDENTIFICATION_LINE_BYTES} bytes` };
    }
    return { status: 'need-more' };
  }

  private consumePreBannerByte(byte: number): IdentificationStep {
    this.preBannerBytes++;
    if (this.preBannerBytes > MAX_PRE_BANNER_BYTES) {
      return { status: 'not-ssh', reason: `no identification line within ${MAX_PRE_BANNER_BYTES} bytes of pre-banner text` };
    }
    // Pre-banner text is text: binary control bytes mean another protocol (a TLS record starts 0x16).
    if (!isTextByte(byte)) return { status: 'not-ssh', reason: 'binary data before the identification line' };
    if (byte === LF) this.skippingLine = false;
    return { status: 'need-more' };
  }
}

/** Text as servers send it before the banner: printable bytes, UTF-8, TAB, CR, LF and ESC (coloured art). */
function isTextByte(byte: number): boolean {
  return byte >= 0x20 || byte === 0x09 || byte === LF || byte === CR || byte === 0x1b;
}

function finishLine(bytes: number[]): IdentificationStep {
  if (bytes[bytes.length - 1] === CR) bytes.pop();
  // RFC 4253: printable US-ASCII; anything else is not an SSH peer worth naming.
  if (bytes.some((byte) => byte < 0x20 || byte > 0x7e)) {
    return { status: 'not-ssh', reason: 'identification line holds non-printable bytes' };
  }
  return { status: 'done', line: splitIdentification(Buffer.from(bytes).toString('ascii')), rest: Buffer.alloc(0) };
}

/** Splits `SSH-proto-software comments`; lenient, since odd lines are evidence rather than errors. */
export function splitIdentification(banner: string): IdentificationLine {
  const afterPrefix = banner.slice(PREFIX.length);
  const space = afterPrefix.indexOf(' ');
  const versions = space === -1 ? afterPrefix : afterPrefix.slice(0, space);
  const dash = versions.indexOf('-');
  const line: IdentificationLine = {
    banner,
    protoVersion: dash === -1 ? versions : versions.slice(0, dash),
    softwareVersion: dash === -1 ? '' : versions.slice(dash + 1),
  };
  if (space !== -1) line.comments = afterPrefix.slice(space + 1);
  return line;
}
