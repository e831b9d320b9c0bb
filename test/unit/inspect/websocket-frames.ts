/** Test helpers: build RFC 6455 frames and permessage-deflate payloads the way real peers do. */
import zlib from 'node:zlib';

/** The masking key of the RFC 6455 §5.7 examples. */
export const RFC_MASK = Buffer.from([0x37, 0xfa, 0x21, 0x3d]);

export interface FrameSpec {
  opcode: number;
  payload: Buffer | string;
  fin?: boolean;
  rsv1?: boolean;
  /** A 4-byte masking key (client frames) or undefined (server frames). */
  mask?: Buffer;
}

/** Encodes one frame with the shortest length form. */
export function encodeFrame({ opcode, payload, fin = true, rsv1 = false, mask }: FrameSpec): Buffer {
  const data = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const lengthField =
    data.length < 126
      ? Buffer.alloc(0)
      : data.length < 0x10000
        ? Buffer.from([data.length >> 8, data.length & 0xff])
        : Buffer.from([0, 0, 0, 0, ...u32(data.length)]);
  const lengthCode = data.length < 126 ? data.length : data.length < 0x10000 ? 126 : 127;
  const head = Buffer.from([(fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | opcode, (mask ? 0x80 : 0) | lengthCode]);
  const body = Buffer.from(data);
  if (mask) for (let i = 0; i < body.length; i++) body[i] = (body[i] ?? 0) ^ (mask[i % 4] ?? 0);
  return Buffer.concat([head, lengthField, mask ?? Buffer.alloc(0), body]);
}

export const clientFrame = (spec: Omit<FrameSpec, 'mask'>): Buffer => encodeFrame({ ...spec, mask: RFC_MASK });
export const serverFrame = (spec: Omit<FrameSpec, 'mask'>): Buffer => encodeFrame(spec);

function u32(value: number): number[] {
  return [(value >>> 24) & 0xff, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff];
}

/**
 * Compresses messages as a permessage-deflate sender does: one raw DEFLATE stream (context takeover),
 * a Z_SYNC_FLUSH after each message, and the trailing `00 00 ff ff` removed (RFC 7692 §7.2.1).
 */
export async function deflateMessages(messages: Buffer[], options: zlib.ZlibOptions = {}): Promise<Buffer[]> {
  const deflater = zlib.createDeflateRaw(options);
  const compressed: Buffer[] = [];
  for (const message of messages) {
    deflater.write(message);
    await new Promise<void>((resolve) => deflater.flush(zlib.constants.Z_SYNC_FLUSH, () => resolve()));
    const parts: Buffer[] = [];
    for (let part: unknown = deflater.read(); Buffer.isBuffer(part); part = deflater.read()) parts.push(part);
    const flushed = Buffer.concat(parts);
    if (!flushed.subarray(-4).equals(Buffer.from([0, 0, 0xff, 0xff]))) throw new Error('no sync-flush tail');
    compressed.push(flushed.subarray(0, -4));
  }
  deflater.close();
  return compressed;
}

/** Splits bytes into one-byte chunks. */
export function byteByByte(bytes: Buffer): Buffer[] {
  return Array.from(bytes, (byte) => Buffer.from([byte]));
}
