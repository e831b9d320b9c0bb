/**
 * Reassembles a ClientHello from TLS records (RFC 8446 §5.1): the hello may be split over several
 * records, and each record over any number of reads, down to one byte at a time. Every byte is
 * checked as soon as it arrives so non-TLS input is refused early, and the hello is held in one
 * buffer allocated from its announced length, after checking that length against the cap.
 */
import { parseClientHello } from './client-hello.js';
import { FillBuffer } from './fill-buffer.js';
import { CLIENT_HELLO_CAP, NEED_MORE, rejected, type HelloReassembler, type ReassemblyStep } from './reassembly.js';

const RECORD_HEADER_LENGTH = 5;
const HANDSHAKE_HEADER_LENGTH = 4;
const CONTENT_TYPE_HANDSHAKE = 0x16;
const HANDSHAKE_TYPE_CLIENT_HELLO = 0x01;
/** RFC 8446 §5.1: a plaintext record carries at most 2^14 bytes. */
const MAX_RECORD_PAYLOAD = 2 ** 14;

export class TlsRecordReassembler implements HelloReassembler {
  private readonly recordHeader = new FillBuffer(RECORD_HEADER_LENGTH);
  /** Payload bytes of the current record not yet received; 0 while reading a record header. */
  private recordPayloadLeft = 0;
  private readonly handshakeHeader = new FillBuffer(HANDSHAKE_HEADER_LENGTH);
  /** Allocated once the handshake header has announced the body length. */
  private helloBody: FillBuffer | undefined;

  get bufferedBytes(): number {
    return this.handshakeHeader.filled + (this.helloBody?.filled ?? 0);
  }

  feed(chunk: Buffer): ReassemblyStep {
    let offset = 0;
    while (offset < chunk.length) {
      if (this.recordPayloadLeft === 0) {
        offset += this.recordHeader.fillFrom(chunk, offset);
        const problem = recordHeaderProblem(this.recordHeader);
        if (problem !== undefined) return rejected('bad-record', problem);
        if (this.recordHeader.isFull) {
          this.recordPayloadLeft = this.recordHeader.bytes.readUInt16BE(3);
          this.recordHeader.clear();
        }
        continue;
      }
      const payload = chunk.subarray(offset, offset + this.recordPayloadLeft);
      offset += payload.length;
      this.recordPayloadLeft -= payload.length;
      const step = this.feedHandshake(payload);
      // Bytes after the hello (the rest of its record, or whatever the client sent next) are not ours.
      if (step.kind !== 'need-more') return step;
    }
    return NEED_MORE;
  }

  private feedHandshake(payload: Buffer): ReassemblyStep {
    const headerTaken = this.handshakeHeader.fillFrom(payload, 0);
    const header = this.handshakeHeader;
    if (header.filled > 0 && header.bytes[0] !== HANDSHAKE_TYPE_CLIENT_HELLO) {
      return rejected('not-client-hello', `handshake type ${header.bytes[0]}`);
    }
    if (!header.isFull) return NEED_MORE;
    if (this.helloBody === undefined) {
      const bodyLength = header.bytes.readUIntBE(1, 3);
      if (HANDSHAKE_HEADER_LENGTH + bodyLength > CLIENT_HELLO_CAP) {
        return rejected('hello-too-large', `ClientHello announces ${bodyLength} bytes`);
      }
      this.helloBody = new FillBuffer(bodyLength);
    }
    this.helloBody.fillFrom(payload, headerTaken);
    if (!this.helloBody.isFull) return NEED_MORE;
    const hello = parseClientHello(this.helloBody.bytes);
    return 'error' in hello ? rejected('malformed-hello', hello.error) : { kind: 'complete', hello };
  }
}

/** Checks whatever part of a record header has arrived; `undefined` when it is fine so far. */
function recordHeaderProblem(header: FillBuffer): string | undefined {
  const [contentType, major, minor] = header.bytes;
  // Until the hello is complete a client sends nothing but handshake records.
  if (header.filled >= 1 && contentType !== CONTENT_TYPE_HANDSHAKE) return `record type ${contentType}`;
  // Record versions 0x0300 (SSL 3.0) to 0x0304; TLS 1.3 clients write 0x0301 or 0x0303 here.
  if (header.filled >= 2 && major !== 0x03) return `record version major ${major}`;
  if (header.filled >= 3 && minor !== undefined && minor > 0x04) return `record version minor ${minor}`;
  if (header.isFull) {
    const length = header.bytes.readUInt16BE(3);
    // RFC 8446 §5.1: handshake fragments are never empty and never exceed 2^14 bytes.
    if (length === 0 || length > MAX_RECORD_PAYLOAD) return `record length ${length}`;
  }
  return undefined;
}
