/**
 * The DNS message format, as far as the DNS listener needs it. Records are encoded and decoded by
 * `dns-packet` (mafintosh/dns-packet: the codec behind multicast-dns, typed by @types/dns-packet, no
 * native code); what it does not cover is done here by hand and kept small: the header fields it does
 * not type (opcode, rcode), the EDNS0 OPT record we answer with (RFC 6891), and the Extended DNS Error
 * option inside it (RFC 8914: a 16-bit info-code and UTF-8 text), which dns-packet cannot encode.
 *
 * Every decode of untrusted bytes goes through here and answers with a result, never an exception.
 */
import dnsPacket from 'dns-packet';
import { messageOf } from '../error-message.js';

export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;
export type Rcode = (typeof RCODE)[keyof typeof RCODE];

export const RCODE_NAMES: Record<number, string> = { 0: 'NOERROR', 1: 'FORMERR', 2: 'SERVFAIL', 3: 'NXDOMAIN', 4: 'NOTIMP', 5: 'REFUSED' };

/** RFC 8914 info-codes we use. */
export const EDE = {
  OTHER: 0,
  BLOCKED: 15,
  FILTERED: 17,
  PROHIBITED: 18,
  NOT_SUPPORTED: 21,
  NO_REACHABLE_AUTHORITY: 22,
  NETWORK_ERROR: 23,
} as const;

/** An Extended DNS Error: why the answer is what it is, in words the agent (a model) can act on. */
export interface ExtendedError {
  code: number;
  text: string;
}

export interface Question {
  /** As the client wrote it (case kept, no trailing dot): echoed back in the answer. */
  name: string;
  /** Mnemonic ("A", "TXT") or "UNKNOWN_<n>". */
  type: string;
  class: string;
}

export interface DnsQuery {
  id: number;
  recursionDesired: boolean;
  checkingDisabled: boolean;
  question: Question;
  /** The client's EDNS0 UDP payload size, or undefined when it sent no OPT record. */
  ednsUdpSize: number | undefined;
}

export type ParsedQuery =
  | { ok: true; query: DnsQuery }
  /** Answerable: a header could be read, so the client gets `rcode` for its id. */
  | { ok: false; answer: { id: number; rcode: Rcode; question?: Question; edns: boolean }; reason: string }
  /** Not answerable (too short, or a response sent to us: answering responses could loop). */
  | { ok: false; answer: undefined; reason: string };

const HEADER_BYTES = 12;
const QR_BIT = 0x8000;
const OPCODE_QUERY = 0;
const OPT_TYPE = 41;
const EDE_OPTION = 15;
/** The payload size we advertise and honour at most (the DNS Flag Day 2020 value: no fragmentation). */
export const OUR_UDP_SIZE = 1232;
/** Without EDNS0 a UDP answer may not exceed this (RFC 1035). */
export const CLASSIC_UDP_SIZE = 512;

export function parseQuery(bytes: Buffer): ParsedQuery {
  if (bytes.length < HEADER_BYTES) return { ok: false, answer: undefined, reason: `${bytes.length} bytes is shorter than a DNS header` };
  const id = bytes.readUInt16BE(0);
  const flags = bytes.readUInt16BE(2);
  if ((flags & QR_BIT) !== 0) return { ok: false, answer: undefined, reason: 'a response, not a query' };
  const opcode = (flags >> 11) & 0xf;
  if (opcode !== OPCODE_QUERY) return { ok: false, answer: { id, rcode: RCODE.NOTIMP, edns: false }, reason: `opcode ${opcode} is not supported` };
  let decoded: dnsPacket.DecodedPacket;
  try {
    decoded = dnsPacket.decode(bytes);
  } catch (error) {
    return { ok: false, answer: { id, rcode: RCODE.FORMERR, edns: false }, reason: `malformed query: ${messageOf(error)}` };
  }
  const questions = decoded.questions ?? [];
  const opt = (decoded.additionals ?? []).find((record) => record.type === 'OPT');
  const edns = opt !== undefined && opt.type === 'OPT';
  const first = questions[0];
  if (questions.length !== 1 || first === undefined) {
    return { ok: false, answer: { id, rcode: RCODE.FORMERR, edns }, reason: `a query must ask exactly one question (it asks ${questions.length})` };
  }
  if (!isLiteralName(bytes, first.name)) {
    // dns-packet joins labels with "." and decodes them as UTF-8, so a label holding a dot, bytes that
    // are not UTF-8 or a compression pointer would come out as a different name than the one on the
    // wire: it could not be echoed faithfully (the answer would be malformed) nor judged as asked.
    return { ok: false, answer: { id, rcode: RCODE.FORMERR, edns }, reason: 'the question name is not plain labels (a label holds a dot or bytes that are not UTF-8, or the name uses a compression pointer)' };
  }
  const question: Question = { name: first.name, type: String(first.type), class: String(first.class ?? 'IN') };
  if (question.class !== 'IN') {
    return { ok: false, answer: { id, rcode: RCODE.REFUSED, question, edns }, reason: `class ${question.class} is not served (only IN)` };
  }
  return {
    ok: true,
    query: {
      id,
      recursionDesired: decoded.flag_rd,
      checkingDisabled: decoded.flag_cd,
      question,
      ednsUdpSize: opt !== undefined && opt.type === 'OPT' ? opt.udpPayloadSize : undefined,
    },
  };
}

/** True when the question name at offset 12 is exactly `name`'s labels, byte for byte, with no pointer. */
function isLiteralName(bytes: Buffer, name: string): boolean {
  const raw: Buffer[] = [];
  for (let offset = HEADER_BYTES; ; ) {
    const length = bytes[offset];
    // Above 63 is a compression pointer or a reserved label type.
    if (length === undefined || length > 63) return false;
    if (length === 0) break;
    raw.push(bytes.subarray(offset + 1, offset + 1 + length));
    offset += 1 + length;
  }
  const labels = name === '.' ? [] : name.split('.');
  return labels.length === raw.length && labels.every((label, index) => raw[index]?.equals(Buffer.from(label, 'utf8')) === true);
}

/** A record as dns-packet decodes and encodes it. */
export type DnsRecord = dnsPacket.Answer;

export interface ResponseParts {
  id: number;
  recursionDesired: boolean;
  question?: Question;
  rcode: Rcode;
  answers?: DnsRecord[];
  authorities?: DnsRecord[];
  /** Include an OPT record (only when the client sent one: RFC 6891 §7). */
  edns: boolean;
  ede?: ExtendedError;
}

/**
 * Encodes a response. `maxBytes` (UDP) truncates: records are left out and TC is set, so the client
 * asks again over TCP; the OPT record with the EDE stays, since that is what explains the answer,
 * unless even that does not fit (a limit as small as the query itself): then the EDE goes too.
 */
export function encodeResponse(parts: ResponseParts, maxBytes = Number.POSITIVE_INFINITY): Buffer {
  const full = encodeWithOpt(parts, false);
  if (full.length <= maxBytes) return full;
  const truncated = encodeWithOpt({ ...parts, answers: [], authorities: [] }, true);
  if (truncated.length <= maxBytes || parts.ede === undefined) return truncated;
  const { ede: _withheld, ...bare } = parts;
  return encodeWithOpt({ ...bare, answers: [], authorities: [] }, true);
}

function encodeWithOpt(parts: ResponseParts, truncated: boolean): Buffer {
  const flags =
    (parts.recursionDesired ? dnsPacket.RECURSION_DESIRED : 0) |
    dnsPacket.RECURSION_AVAILABLE |
    (truncated ? dnsPacket.TRUNCATED_RESPONSE : 0) |
    parts.rcode;
  const body = dnsPacket.encode({
    type: 'response',
    id: parts.id,
    flags,
    questions: parts.question ? [{ name: parts.question.name, type: parts.question.type as dnsPacket.RecordType, class: 'IN' }] : [],
    answers: parts.answers ?? [],
    authorities: parts.authorities ?? [],
    additionals: [],
  });
  if (!parts.edns) return body;
  return appendOpt(body, parts.ede);
}

/** Appends our OPT pseudo-record (with an EDE option when given) and counts it in ARCOUNT. */
function appendOpt(message: Buffer, ede: ExtendedError | undefined): Buffer {
  const option = ede ? encodeEdeOption(ede) : Buffer.alloc(0);
  const opt = Buffer.alloc(11 + option.length);
  opt.writeUInt8(0, 0); // owner: the root
  opt.writeUInt16BE(OPT_TYPE, 1);
  opt.writeUInt16BE(OUR_UDP_SIZE, 3); // CLASS carries the payload size
  opt.writeUInt32BE(0, 5); // extended rcode 0, version 0, no DO bit
  opt.writeUInt16BE(option.length, 9);
  option.copy(opt, 11);
  const out = Buffer.concat([message, opt]);
  out.writeUInt16BE(out.readUInt16BE(10) + 1, 10);
  return out;
}

/** EDE text is capped: it must fit a UDP answer beside the records. */
const MAX_EDE_TEXT_BYTES = 400;

export function encodeEdeOption(ede: ExtendedError): Buffer {
  let text = Buffer.from(ede.text, 'utf8');
  if (text.length > MAX_EDE_TEXT_BYTES) text = Buffer.concat([text.subarray(0, MAX_EDE_TEXT_BYTES - 3), Buffer.from('...')]);
  const option = Buffer.alloc(6 + text.length);
  option.writeUInt16BE(EDE_OPTION, 0);
  option.writeUInt16BE(2 + text.length, 2);
  option.writeUInt16BE(ede.code, 4);
  text.copy(option, 6);
  return option;
}

/** The EDE options of a decoded message (tests, and upstream answers). */
export function extendedErrorsOf(message: dnsPacket.DecodedPacket): ExtendedError[] {
  const found: ExtendedError[] = [];
  for (const record of message.additionals ?? []) {
    if (record.type !== 'OPT') continue;
    for (const option of record.options) {
      const data = option.data;
      if (Number(option.code) !== EDE_OPTION || data === undefined || data.length < 2) continue;
      found.push({ code: data.readUInt16BE(0), text: data.subarray(2).toString('utf8') });
    }
  }
  return found;
}

/** The rcode of a decoded message (dns-packet decodes it but does not type it). */
export function rcodeOf(message: dnsPacket.DecodedPacket): number {
  return (message.flags ?? 0) & 0xf;
}

export { dnsPacket };
