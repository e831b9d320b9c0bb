/**
 * Stratum V2 (protocol-notes §1.3.5): the plaintext `SetupConnection` frame and the size signature of
 * the encrypted Noise NX handshake.
 *
 * The plaintext check is chunking-agnostic (it buffers the first up frame, at most 6 + 1,291 bytes).
 * The encrypted check is a heuristic on **write sizes**, so it only works when the caller feeds one
 * push per socket read: up 64 random-looking bytes (ElligatorSwift key), down 234 bytes (170 in the
 * stale spec prose), then up 22 + (N + 16) bytes (encrypted header + SetupConnection). Coalesced or
 * split reads simply make it not match; it never matches on byte-by-byte input.
 */
import type { Confidence, Direction } from '../types.js';
import { cleanText } from './extract.js';

export interface StratumV2Finding {
  dialect: 'stratum-v2' | 'stratum-v2-encrypted';
  confidence: Confidence;
  reason: string;
  /** Vendor, hardware and firmware strings of a plaintext SetupConnection. */
  agent?: string;
}

const HEADER_LENGTH = 6;
/** protocol U8, min/max version U16, flags U32, five empty STR0_255 and the endpoint port U16. */
const MIN_PAYLOAD = 1 + 2 + 2 + 4 + 5 * 1 + 2;
const MAX_PAYLOAD = 1 + 2 + 2 + 4 + 5 * (1 + 255) + 2;
const SUPPORTED_VERSION = 2;

type Parse = { state: 'need-more' } | { state: 'bad' } | { state: 'complete'; agent: string };

function readStrings(payload: Buffer, from: number, count: number): { strings: string[]; end: number } | undefined {
  const strings: string[] = [];
  let offset = from;
  for (let i = 0; i < count; i++) {
    const length = payload[offset];
    if (length === undefined || offset + 1 + length > payload.length) return undefined;
    strings.push(payload.toString('utf8', offset + 1, offset + 1 + length));
    offset += 1 + length;
  }
  return { strings, end: offset };
}

/** Checks as many bytes of a SetupConnection frame as have arrived. */
function parseSetupConnection(bytes: Buffer): Parse {
  const fixed = [0x00, 0x00, 0x00]; // extension_type 0 (no channel bit), msg_type 0 = SetupConnection
  for (let i = 0; i < Math.min(bytes.length, fixed.length); i++) if (bytes[i] !== fixed[i]) return { state: 'bad' };
  if (bytes.length >= HEADER_LENGTH) {
    const length = bytes.readUIntLE(3, 3);
    if (length < MIN_PAYLOAD || length > MAX_PAYLOAD) return { state: 'bad' };
  }
  if (bytes.length > HEADER_LENGTH && (bytes[HEADER_LENGTH] ?? 0) > 2) return { state: 'bad' }; // mining, job declaration, template distribution
  if (bytes.length >= HEADER_LENGTH + 5) {
    if (bytes.readUInt16LE(HEADER_LENGTH + 1) !== SUPPORTED_VERSION || bytes.readUInt16LE(HEADER_LENGTH + 3) < SUPPORTED_VERSION) return { state: 'bad' };
  }
  if (bytes.length < HEADER_LENGTH || bytes.length < HEADER_LENGTH + bytes.readUIntLE(3, 3)) return { state: 'need-more' };
  const payload = bytes.subarray(HEADER_LENGTH, HEADER_LENGTH + bytes.readUIntLE(3, 3));
  const host = readStrings(payload, 9, 1);
  const device = host === undefined ? undefined : readStrings(payload, host.end + 2, 4); // + endpoint_port U16
  if (device === undefined || device.end !== payload.length) return { state: 'bad' };
  const [vendor = '', hardware = '', firmware = ''] = device.strings;
  return { state: 'complete', agent: cleanText([vendor, hardware, firmware].filter((s) => s !== '').join(' '), 160) };
}

/** 64 random bytes have about 57 distinct values and 32 with the high bit set; text and base64 fall far short. */
function looksRandom(bytes: Buffer): boolean {
  let highBit = 0;
  for (const byte of bytes) if (byte >= 0x80) highBit++;
  return new Set(bytes).size >= 40 && highBit >= 12;
}

const ACT_ONE_LENGTH = 64;
const ACT_TWO_LENGTHS = [234, 170];
/** Encrypted header (6 + 16 MAC) then the encrypted SetupConnection payload (N + 16 MAC). */
const FIRST_FRAME_MIN = HEADER_LENGTH + 16 + MIN_PAYLOAD + 16;
const FIRST_FRAME_MAX = HEADER_LENGTH + 16 + MAX_PAYLOAD + 16;

export class StratumV2Detector {
  private plaintext: 'open' | 'done' = 'open';
  /** Allocated when a plaintext frame starts arriving, so that flows which never send one hold nothing. */
  private frameStorage: Buffer | undefined;
  private frameLength = 0;
  /** Index of the next handshake write to check (0: act 1 up, 1: act 2 down, 2: first frame up). */
  private handshakeStep: 0 | 1 | 2 | 'matched' | 'broken' = 0;

  /** True while either signature can still match. */
  get alive(): boolean {
    return this.plaintext === 'open' || typeof this.handshakeStep === 'number';
  }

  /** Bytes held for the plaintext frame (at most 1,297). */
  get bufferedBytes(): number {
    return this.frameLength;
  }

  push(chunk: Buffer, direction: Direction): StratumV2Finding[] {
    const findings: StratumV2Finding[] = [];
    if (chunk.length === 0) return findings;
    const handshake = this.pushHandshake(chunk, direction);
    if (handshake !== undefined) findings.push(handshake);
    if (direction === 'up' && this.plaintext === 'open') {
      const plaintext = this.pushPlaintext(chunk);
      if (plaintext !== undefined) findings.push(plaintext);
    }
    return findings;
  }

  private pushPlaintext(chunk: Buffer): StratumV2Finding | undefined {
    const frame = (this.frameStorage ??= Buffer.alloc(HEADER_LENGTH + MAX_PAYLOAD));
    const taken = chunk.copy(frame, this.frameLength, 0, Math.min(chunk.length, frame.length - this.frameLength));
    this.frameLength += taken;
    const parsed = parseSetupConnection(frame.subarray(0, this.frameLength));
    if (parsed.state === 'need-more') return undefined;
    this.plaintext = 'done';
    this.frameLength = 0;
    this.frameStorage = undefined;
    if (parsed.state === 'bad') return undefined;
    return { dialect: 'stratum-v2', confidence: 'high', reason: 'Stratum V2 SetupConnection', ...(parsed.agent !== '' ? { agent: parsed.agent } : {}) };
  }

  /** Each handshake write must have the size the next Noise act (or the first transport frame) has. */
  private pushHandshake(chunk: Buffer, direction: Direction): StratumV2Finding | undefined {
    const step = this.handshakeStep;
    if (step === 'matched' || step === 'broken') return undefined;
    const size = chunk.length;
    const fits =
      (step === 0 && direction === 'up' && size === ACT_ONE_LENGTH && looksRandom(chunk)) ||
      (step === 1 && direction === 'down' && ACT_TWO_LENGTHS.includes(size)) ||
      (step === 2 && direction === 'up' && size >= FIRST_FRAME_MIN && size <= FIRST_FRAME_MAX);
    if (!fits) {
      this.handshakeStep = 'broken';
      return undefined;
    }
    this.handshakeStep = step === 0 ? 1 : step === 1 ? 2 : 'matched';
    if (step === 1) return { dialect: 'stratum-v2-encrypted', confidence: 'low', reason: `Noise NX sizes: 64 random bytes up, ${size} down` };
    if (step === 2) return { dialect: 'stratum-v2-encrypted', confidence: 'medium', reason: `Noise NX sizes then a ${size}-byte encrypted SetupConnection` };
    return undefined;
  }
}
