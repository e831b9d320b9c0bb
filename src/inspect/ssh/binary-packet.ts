/**
 * Reader of cleartext SSH binary packets (RFC 4253 §6), usable only before NEWKEYS, while no cipher and
 * no MAC are active:
 *
 *   uint32 packet_length | byte padding_length | payload | padding
 *
 * `packet_length` counts everything after itself. The reader hands each payload to a callback, which
 * can stop the reader (at NEWKEYS the rest of the stream is encrypted and must not be parsed).
 */

/** RFC 4253 §6.1: implementations must handle packets of 35,000 bytes in total; refuse anything larger. */
export const MAX_CLEARTEXT_PACKET_BYTES = 35_000;

const LENGTH_FIELD_BYTES = 4;

export type PayloadVerdict = 'continue' | 'stop';

export type PacketReaderStatus =
  | { state: 'reading' }
  /** The callback asked to stop; later bytes are not packets this reader can read. */
  | { state: 'stopped' }
  | { state: 'error'; reason: string };

export class CleartextPacketReader {
  private readonly lengthField = Buffer.alloc(LENGTH_FIELD_BYTES);
  private lengthFieldFill = 0;
  /** Body (padding_length, payload, padding) of the packet being read, allocated once its length is known. */
  private body: Buffer | undefined;
  private bodyFill = 0;
  private currentStatus: PacketReaderStatus = { state: 'reading' };

  get status(): PacketReaderStatus {
    return this.currentStatus;
  }

  /** Bytes held for an incomplete packet; never more than MAX_CLEARTEXT_PACKET_BYTES. */
  get bufferedBytes(): number {
    return this.lengthFieldFill + this.bodyFill;
  }

  /**
   * Reads packets from `chunk`, calling `onPayload` for each complete one in order.
   * @returns how many bytes of `chunk` were consumed: all of them unless the reader stopped or failed
   *   in this chunk, in which case the bytes after the last packet are left unread.
   */
  push(chunk: Buffer, onPayload: (payload: Buffer) => PayloadVerdict): number {
    let offset = 0;
    while (offset < chunk.length && this.currentStatus.state === 'reading') {
      if (!this.body) {
        offset += this.fillLengthField(chunk, offset);
        continue;
      }
      const taken = chunk.copy(this.body, this.bodyFill, offset);
      this.bodyFill += taken;
      offset += taken;
      if (this.bodyFill < this.body.length) continue;
      const packet = readBody(this.body);
      this.body = undefined;
      this.bodyFill = 0;
      if ('reason' in packet) this.currentStatus = { state: 'error', reason: packet.reason };
      else if (onPayload(packet.payload) === 'stop') this.currentStatus = { state: 'stopped' };
    }
    return offset;
  }

  private fillLengthField(chunk: Buffer, offset: number): number {
    const taken = chunk.copy(this.lengthField, this.lengthFieldFill, offset, offset + LENGTH_FIELD_BYTES - this.lengthFieldFill);
    this.lengthFieldFill += taken;
    if (this.lengthFieldFill < LENGTH_FIELD_BYTES) return taken;
    this.lengthFieldFill = 0;
    const packetLength = this.lengthField.readUInt32BE(0);
    // At least padding_length and one payload byte (the message number).
    if (packetLength < 2 || packetLength + LENGTH_FIELD_BYTES > MAX_CLEARTEXT_PACKET_BYTES) {
      this.currentStatus = { state: 'error', reason: `packet_length ${packetLength} out of range` };
    } else {
      this.body = Buffer.alloc(packetLength);
    }
    return taken;
  }
}

function readBody(body: Buffer): { payload: Buffer } | { reason: string } {
  const paddingLength = body[0] ?? 0;
  const payloadLength = body.length - 1 - paddingLength;
  if (payloadLength < 1) return { reason: `padding_length ${paddingLength} leaves no payload` };
  return { payload: body.subarray(1, 1 + payloadLength) };
}
