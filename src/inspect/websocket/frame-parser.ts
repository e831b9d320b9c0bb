/**
 * Incremental RFC 6455 §5.2 frame parser for one direction of a WebSocket connection.
 *
 * Fed the bytes in any chunking, it returns each frame once complete, with its payload unmasked. Only the
 * first `maxRetainedPayload` bytes of a payload are kept (the rest is counted and skipped), so a frame that
 * declares gigabytes costs no more memory than a small one. Violations are returned as values; after one
 * the parser ignores further input, as the endpoint would fail the connection.
 */
import type { Direction } from '../types.js';
import type { ProtocolError } from './protocol-error.js';

export const Opcode = {
  continuation: 0x0,
  text: 0x1,
  binary: 0x2,
  close: 0x8,
  ping: 0x9,
  pong: 0xa,
} as const;

export interface WebSocketFrame {
  fin: boolean;
  /** RSV1: the "per-message compressed" bit once permessage-deflate is negotiated (RFC 7692 §6). */
  rsv1: boolean;
  opcode: number;
  /** Payload length declared by the header. */
  length: number;
  /** The unmasked payload, or its first `maxRetainedPayload` bytes. */
  payload: Buffer;
  /** True when `payload` holds fewer bytes than `length`. */
  truncated: boolean;
}

export interface FrameParserOptions {
  /** `up` frames (client to server) must be masked, `down` frames must not be (RFC 6455 §5.1). */
  direction: Direction;
  /** permessage-deflate was negotiated, so RSV1 may mark the first frame of a data message. */
  allowCompression: boolean;
  /** Declared lengths above this are a protocol error. */
  maxFrameLength: number;
  /** Most payload bytes kept per frame. */
  maxRetainedPayload: number;
}

export interface FrameParseResult {
  frames: readonly WebSocketFrame[];
  error?: ProtocolError;
}

/** Longest possible header: 2 fixed bytes, 8 length bytes, 4 mask bytes. */
const MAX_HEADER_BYTES = 14;
const MAX_CONTROL_PAYLOAD = 125;
const NOTHING: FrameParseResult = Object.freeze({ frames: Object.freeze([]) });

/** The frame whose payload is being received. */
interface PendingFrame {
  frame: WebSocketFrame;
  /** Payload bytes consumed so far, kept or skipped. */
  received: number;
  mask: Buffer | undefined;
}

export class FrameParser {
  private readonly header = Buffer.alloc(MAX_HEADER_BYTES);
  private headerFilled = 0;
  private pending: PendingFrame | undefined;
  private failure: ProtocolError | undefined;

  constructor(private readonly options: FrameParserOptions) {}

  /** The error that stopped this parser, if any. */
  get error(): ProtocolError | undefined {
    return this.failure;
  }

  /** Bytes held between pushes: the partial header and the retained payload of the pending frame. */
  get bufferedBytes(): number {
    return this.headerFilled + (this.pending?.frame.payload.length ?? 0);
  }

  push(chunk: Buffer): FrameParseResult {
    if (this.failure !== undefined) return NOTHING;
    let frames: WebSocketFrame[] | undefined;
    let offset = 0;
    for (;;) {
      if (this.pending === undefined) {
        if (offset >= chunk.length) break;
        offset = this.readHeader(chunk, offset);
        if (this.failure !== undefined) return { frames: frames ?? [], error: this.failure };
        if (this.pending === undefined) break; // the chunk ended inside a header
      }
      // Runs even with no bytes left so that an empty payload completes its frame at once.
      offset = this.readPayload(this.pending, chunk, offset);
      if (this.pending.received < this.pending.frame.length) break; // the chunk ended inside a payload
      (frames ??= []).push(this.pending.frame);
      this.pending = undefined;
    }
    return frames === undefined ? NOTHING : { frames };
  }

  /** Copies header bytes until the header is complete, then validates it and starts the frame. */
  private readHeader(chunk: Buffer, offset: number): number {
    let at = offset;
    while (at < chunk.length) {
      this.header[this.headerFilled++] = chunk[at++] ?? 0;
      if (this.headerFilled >= 2 && this.headerFilled === headerLength(this.header)) {
        this.startFrame();
        this.headerFilled = 0;
        break;
      }
    }
    return at;
  }

  private startFrame(): void {
    const byte0 = this.header[0] ?? 0;
    const byte1 = this.header[1] ?? 0;
    const fin = (byte0 & 0x80) !== 0;
    const rsv1 = (byte0 & 0x40) !== 0;
    const opcode = byte0 & 0x0f;
    const masked = (byte1 & 0x80) !== 0;
    const lengthCode = byte1 & 0x7f;
    const lengthBytes = lengthCode === 126 ? 2 : lengthCode === 127 ? 8 : 0;

    if (lengthCode === 127 && ((this.header[2] ?? 0) & 0x80) !== 0) {
      this.failure = error('length-msb-set', 'the 64-bit payload length has its most significant bit set');
      return;
    }
    const length =
      lengthCode === 126
        ? this.header.readUInt16BE(2)
        : lengthCode === 127
          ? this.header.readUInt32BE(2) * 2 ** 32 + this.header.readUInt32BE(6)
          : lengthCode;

    const problem = this.validate(byte0, opcode, fin, rsv1, masked, length);
    if (problem !== undefined) {
      this.failure = problem;
      return;
    }
    const maskStart = 2 + lengthBytes;
    const mask = masked ? Buffer.from(this.header.subarray(maskStart, maskStart + 4)) : undefined;
    const retained = Math.min(length, this.options.maxRetainedPayload);
    const payload = Buffer.allocUnsafe(retained); // every byte is written before the frame is returned
    this.pending = {
      frame: { fin, rsv1, opcode, length, payload, truncated: retained < length },
      received: 0,
      mask,
    };
  }

  private validate(
    byte0: number,
    opcode: number,
    fin: boolean,
    rsv1: boolean,
    masked: boolean,
    length: number,
  ): ProtocolError | undefined {
    const isControl = opcode >= 0x8;
    if (!isKnownOpcode(opcode)) return error('reserved-opcode', `opcode 0x${opcode.toString(16)} is reserved`);
    if ((byte0 & 0x30) !== 0) return error('reserved-bits', 'RSV2/RSV3 set without a negotiated extension');
    if (rsv1 && !this.options.allowCompression) {
      return error('reserved-bits', 'RSV1 set without permessage-deflate');
    }
    if (rsv1 && (isControl || opcode === Opcode.continuation)) {
      return error('reserved-bits', 'RSV1 set on a control or continuation frame');
    }
    if (this.options.direction === 'up' && !masked) {
      return error('unmasked-client-frame', 'client frame is not masked');
    }
    if (this.options.direction === 'down' && masked) {
      return error('masked-server-frame', 'server frame is masked');
    }
    if (isControl && !fin) return error('fragmented-control-frame', 'control frame without FIN');
    if (isControl && length > MAX_CONTROL_PAYLOAD) {
      return error('control-frame-too-long', `control frame of ${length} bytes (at most 125)`);
    }
    if (length > this.options.maxFrameLength) {
      return error('frame-too-long', `frame of ${length} bytes exceeds the ${this.options.maxFrameLength}-byte cap`);
    }
    return undefined;
  }

  /** Consumes payload bytes; keeps and unmasks those within the retained prefix, skips the rest. */
  private readPayload(pending: PendingFrame, chunk: Buffer, offset: number): number {
    const take = Math.min(pending.frame.length - pending.received, chunk.length - offset);
    const { payload } = pending.frame;
    const keepEnd = Math.min(pending.received + take, payload.length);
    if (keepEnd > pending.received) {
      const start = pending.received;
      chunk.copy(payload, start, offset, offset + (keepEnd - start));
      if (pending.mask !== undefined) unmaskInPlace(payload, pending.mask, start, keepEnd);
    }
    pending.received += take;
    return offset + take;
  }
}

/** XORs payload[start, end) with the mask; the mask index is the byte's position in the payload (§5.3). */
function unmaskInPlace(payload: Buffer, mask: Buffer, start: number, end: number): void {
  for (let i = start; i < end; i++) payload[i] = (payload[i] ?? 0) ^ (mask[i & 3] ?? 0);
}

/** Header length implied by the first two bytes. */
function headerLength(header: Buffer): number {
  const byte1 = header[1] ?? 0;
  const lengthCode = byte1 & 0x7f;
  const lengthBytes = lengthCode === 126 ? 2 : lengthCode === 127 ? 8 : 0;
  return 2 + lengthBytes + ((byte1 & 0x80) !== 0 ? 4 : 0);
}

function isKnownOpcode(opcode: number): boolean {
  return opcode <= Opcode.binary || (opcode >= Opcode.close && opcode <= Opcode.pong);
}

function error(code: ProtocolError['code'], detail: string): ProtocolError {
  return { code, detail };
}
