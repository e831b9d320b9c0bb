/**
 * The SSLv2-compatible ClientHello (RFC 5246 Appendix E.2, RFC 6101 Appendix E.1): old clients sent
 * it so that SSLv2-only servers could answer too. Only the 2-byte-header form exists for it: byte 0
 * has the high bit set and, with byte 1, gives the record length; the message type is 0x01.
 * It has no extensions, so it yields versions and cipher suites only.
 */
import { ByteReader } from './byte-reader.js';
import type { ClientHelloInfo, HelloParseError } from './client-hello.js';
import { FillBuffer } from './fill-buffer.js';
import { NEED_MORE, rejected, type HelloReassembler, type ReassemblyStep } from './reassembly.js';

const HEADER_LENGTH = 2;
const MESSAGE_TYPE_CLIENT_HELLO = 0x01;
/** msg_type, version, and the three 2-byte lengths. */
const FIXED_FIELDS_LENGTH = 9;
const CIPHER_SPEC_LENGTH = 3;
const MIN_CHALLENGE_LENGTH = 16;
const MAX_CHALLENGE_LENGTH = 32;
/** SSLv2 session ids are empty or 16 bytes. */
const SESSION_ID_LENGTHS: readonly number[] = [0, 16];
const MIN_RECORD_LENGTH = FIXED_FIELDS_LENGTH + CIPHER_SPEC_LENGTH + MIN_CHALLENGE_LENGTH;

/** True when `firstByte` could open an SSLv2-format record (high bit set). */
export function opensSslv2Record(firstByte: number): boolean {
  return (firstByte & 0x80) !== 0;
}

/** Parses the record contents after the 2-byte header. */
export function parseSslv2ClientHello(record: Buffer): ClientHelloInfo | HelloParseError {
  const reader = new ByteReader(record);
  const messageType = reader.u8();
  const version = reader.u16();
  const cipherSpecLength = reader.u16();
  const sessionIdLength = reader.u16();
  const challengeLength = reader.u16();
  if (
    messageType === undefined ||
    version === undefined ||
    cipherSpecLength === undefined ||
    sessionIdLength === undefined ||
    challengeLength === undefined
  ) {
    return { error: 'truncated SSLv2 hello' };
  }
  if (messageType !== MESSAGE_TYPE_CLIENT_HELLO) return { error: 'not an SSLv2 CLIENT-HELLO' };
  if (cipherSpecLength === 0 || cipherSpecLength % CIPHER_SPEC_LENGTH !== 0) {
    return { error: 'bad SSLv2 cipher_spec_length' };
  }
  if (!SESSION_ID_LENGTHS.includes(sessionIdLength)) {
    return { error: 'bad SSLv2 session_id_length' };
  }
  if (challengeLength < MIN_CHALLENGE_LENGTH || challengeLength > MAX_CHALLENGE_LENGTH) {
    return { error: 'bad SSLv2 challenge_length' };
  }
  const cipherSpecs = reader.take(cipherSpecLength);
  if (cipherSpecs === undefined || reader.remaining !== sessionIdLength + challengeLength) {
    return { error: 'SSLv2 lengths do not match the record' };
  }
  return {
    legacyVersion: version,
    cipherSuites: tlsCipherSuites(cipherSpecs),
    extensionTypes: [],
    alpnProtocols: [],
    supportedGroups: [],
    ecPointFormats: [],
    signatureAlgorithms: [],
    ech: false,
    sslv2Compat: true,
  };
}

/**
 * Cipher specs are 3 bytes; those starting with 0x00 are TLS cipher suites (RFC 5246 E.2). SSLv2-only
 * kinds have no TLS number and are left out, so the fingerprints use the same vocabulary as TLS hellos.
 */
function tlsCipherSuites(cipherSpecs: Buffer): number[] {
  const suites: number[] = [];
  for (let offset = 0; offset + CIPHER_SPEC_LENGTH <= cipherSpecs.length; offset += CIPHER_SPEC_LENGTH) {
    if (cipherSpecs.readUInt8(offset) === 0) suites.push(cipherSpecs.readUInt16BE(offset + 1));
  }
  return suites;
}

export class Sslv2HelloReassembler implements HelloReassembler {
  private readonly header = new FillBuffer(HEADER_LENGTH);
  /** Allocated once the header has given the record length (at most 0x7fff, below the cap). */
  private record: FillBuffer | undefined;

  get bufferedBytes(): number {
    return this.header.filled + (this.record?.filled ?? 0);
  }

  feed(chunk: Buffer): ReassemblyStep {
    const headerTaken = this.header.fillFrom(chunk, 0);
    if (!this.header.isFull) return NEED_MORE;
    if (this.record === undefined) {
      const length = this.header.bytes.readUInt16BE(0) & 0x7fff;
      if (length < MIN_RECORD_LENGTH) return rejected('not-tls', `SSLv2 record length ${length}`);
      this.record = new FillBuffer(length);
    }
    this.record.fillFrom(chunk, headerTaken);
    const problem = prefixProblem(this.record);
    if (problem !== undefined) return problem;
    if (!this.record.isFull) return NEED_MORE;
    const hello = parseSslv2ClientHello(this.record.bytes);
    return 'error' in hello ? rejected('malformed-hello', hello.error) : { kind: 'complete', hello };
  }
}

/** Refuses early when the first record bytes are not a CLIENT-HELLO with an SSL 2.0 to TLS 1.3 version. */
function prefixProblem(record: FillBuffer): ReassemblyStep | undefined {
  const [messageType, major, minor] = record.bytes;
  if (record.filled >= 1 && messageType !== MESSAGE_TYPE_CLIENT_HELLO) {
    return rejected('not-tls', `SSLv2 message type ${messageType}`);
  }
  if (record.filled >= 2 && major !== 0x00 && major !== 0x03) return rejected('not-tls', `SSLv2 hello version major ${major}`);
  const plausibleMinor = major === 0x00 ? minor === 0x02 : minor !== undefined && minor <= 0x04;
  if (record.filled >= 3 && !plausibleMinor) return rejected('not-tls', `SSLv2 hello version ${major}.${minor}`);
  return undefined;
}
