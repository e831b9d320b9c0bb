/**
 * Tunnel tools recognised from their control channels when they run without TLS (protocol notes
 * §1.4.4), as a watcher on flows no namer claimed:
 *
 * - **bore** (ekzhang/bore, control port 7835): JSON messages of at most 256 bytes, each ending in a NUL
 *   byte. The client opens with `{"Hello":<port>}` (or `{"Authenticate":"…"}` after a server
 *   `{"Challenge":"…"}`, or `{"Accept":"<uuid>"}` on a data connection); the server answers
 *   `{"Hello":<port>}`, `"Heartbeat"`, `{"Connection":"<uuid>"}`, `{"Challenge":"…"}` or `{"Error":"…"}`.
 * - **frp** (fatedier/frp, port 7000) with TLS off: golib messages, one type byte, an int64 big-endian
 *   length and JSON; the client's first is Login (`o`) with `version`, `hostname`, `os`, `arch`,
 *   `privilege_key`, `run_id`… With tcpMux (the default) they travel inside yamux frames, whose 12-byte
 *   headers come first, so the Login is looked for a little way into the stream. Newer frp may open with
 *   its v2 wire magic `FRP\0\x02\r\n`.
 *
 * Only the first bytes of each direction are kept; every match is decided on whole messages.
 */
import type { ClassifierReport, Detection, Direction, StreamClassifier } from '../types.js';
import { PrefixBuffer } from './prefix-buffer.js';

/** bore caps its frames at 256 bytes; frp's Login is a few hundred bytes behind at most two yamux headers. */
const WINDOW = 2048;
const BORE_MAX_FRAME = 256;
const BORE_CLIENT_KEYS: ReadonlySet<string> = new Set(['Hello', 'Authenticate', 'Accept']);
const BORE_SERVER_KEYS: ReadonlySet<string> = new Set(['Hello', 'Challenge', 'Connection', 'Error']);
const FRP_LOGIN_TYPE = 0x6f; // 'o'
const FRP_LOGIN_FIELDS = ['version', 'hostname', 'os', 'arch', 'privilege_key', 'run_id', 'pool_count'];
const FRP_V2_MAGIC = Buffer.from('FRP\x00\x02\r\n', 'latin1');
/** yamux: version 0, type 0–3 (data, window update, ping, go away). */
const YAMUX_HEADER_BYTES = 12;

export class TunnelToolClassifier implements StreamClassifier {
  readonly protocol = 'unknown' as const;
  private readonly buffers: Record<Direction, PrefixBuffer> = { up: new PrefixBuffer(WINDOW), down: new PrefixBuffer(WINDOW) };
  private state: ClassifierReport['state'] = 'undecided';

  push(chunk: Buffer, direction: Direction, atMs: number): ClassifierReport {
    if (this.state !== 'undecided') return { state: this.state, detections: [] };
    const buffer = this.buffers[direction];
    if (!buffer.append(chunk)) return this.giveUpWhenFull();
    const evidence = direction === 'up' ? clientEvidence(buffer.view()) : serverEvidence(buffer.view());
    if (evidence === undefined) return this.giveUpWhenFull();
    this.state = 'identified';
    const detection: Detection = { type: 'tunnel_tool', confidence: evidence.confidence, evidence: evidence.text, direction, atMs };
    return { state: this.state, detections: [detection] };
  }

  private giveUpWhenFull(): ClassifierReport {
    if (this.buffers.up.full || this.buffers.down.full) this.state = 'rejected';
    return { state: this.state, detections: [] };
  }
}

interface Evidence {
  confidence: 'high' | 'medium';
  text: string;
}

function clientEvidence(bytes: Buffer): Evidence | undefined {
  const bore = boreMessage(bytes, BORE_CLIENT_KEYS);
  if (bore) return { confidence: 'high', text: `bore client control message ${bore}` };
  if (bytes.subarray(0, FRP_V2_MAGIC.length).equals(FRP_V2_MAGIC)) return { confidence: 'medium', text: 'frp v2 wire magic "FRP\\0\\x02" at the start of the stream' };
  const login = frpLogin(bytes);
  if (login) return { confidence: 'high', text: `frp client Login message (${login}) without TLS` };
  return undefined;
}

function serverEvidence(bytes: Buffer): Evidence | undefined {
  const bore = boreMessage(bytes, BORE_SERVER_KEYS);
  if (bore) return { confidence: 'high', text: `bore server control message ${bore}` };
  return undefined;
}

/** The first NUL-terminated frame, if it is a bore message with one of `keys`: its text, for the evidence. */
function boreMessage(bytes: Buffer, keys: ReadonlySet<string>): string | undefined {
  const end = bytes.indexOf(0);
  if (end <= 0 || end > BORE_MAX_FRAME) return undefined;
  const text = bytes.toString('utf8', 0, end);
  const value = parseJson(text);
  if (value === undefined || typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const entries = Object.entries(value);
  const [key, content] = entries[0] ?? [];
  if (entries.length !== 1 || key === undefined || !keys.has(key)) return undefined;
  // Hello carries a port; the others a string (uuid, challenge, HMAC, error text).
  const valid = key === 'Hello' ? Number.isInteger(content) && Number(content) >= 0 && Number(content) <= 65535 : typeof content === 'string';
  if (!valid) return undefined;
  return key === 'Hello' ? text : `{"${key}":…}`;
}

/**
 * frp's Login: a type byte `o`, an int64 big-endian length, then that much JSON naming several Login
 * fields. Searched at the start and behind yamux headers. Returns the fields it holds.
 */
function frpLogin(bytes: Buffer): string | undefined {
  for (const offset of [0, YAMUX_HEADER_BYTES, 2 * YAMUX_HEADER_BYTES]) {
    if (offset > 0 && !looksLikeYamux(bytes, offset - YAMUX_HEADER_BYTES)) return undefined;
    const found = frpLoginAt(bytes, offset);
    if (found) return found;
  }
  return undefined;
}

function frpLoginAt(bytes: Buffer, offset: number): string | undefined {
  if (bytes[offset] !== FRP_LOGIN_TYPE || bytes.length < offset + 9) return undefined;
  const high = bytes.readUInt32BE(offset + 1);
  const length = bytes.readUInt32BE(offset + 5);
  if (high !== 0 || length < 2 || offset + 9 + length > bytes.length) return undefined;
  const value = parseJson(bytes.toString('utf8', offset + 9, offset + 9 + length));
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const present = FRP_LOGIN_FIELDS.filter((field) => field in value);
  return present.length >= 3 ? present.join(', ') : undefined;
}

function looksLikeYamux(bytes: Buffer, offset: number): boolean {
  return bytes.length >= offset + YAMUX_HEADER_BYTES && bytes[offset] === 0 && (bytes[offset + 1] ?? 4) <= 3;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
