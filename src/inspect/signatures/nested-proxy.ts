import type { ClassifierReport, Detection, Direction, ProtocolName, StreamClassifier } from '../types.js';
import { PrefixBuffer } from './prefix-buffer.js';

/**
 * A proxy handshake *inside* a tunnel: a SOCKS4/5 greeting, or a PROXY protocol header (v1 text or v2
 * binary) sent by the agent as the first bytes of a flow. Chaining proxies is how a miner or a tunnel
 * hides its real destination behind an allowed one (XMRig has a `socks5` pool option). A nested HTTP
 * CONNECT is recognised by the HTTP classifier (method CONNECT).
 */

const PROXY_V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const PROXY_V1 = /^PROXY (TCP4|TCP6|UNKNOWN)[ \r]/;
/** What a v1 header starts with, up to the byte that decides it. */
const PROXY_V1_STARTS = ['PROXY TCP4', 'PROXY TCP6', 'PROXY UNKNOWN'];
/**
 * Bytes kept from the start of the flow: every handshake above fits in 16, but a SOCKS4 request ends
 * with a NUL-terminated user id (`04 01 PORT IPv4 USERID 00`), which real clients fill with a login.
 */
const PREFIX_BYTES = 64;

type Match = { protocol: ProtocolName; evidence: string } | 'no' | 'more';

export class NestedProxyClassifier implements StreamClassifier {
  readonly protocol: ProtocolName = 'socks';
  private readonly prefix = new PrefixBuffer(PREFIX_BYTES);
  private state: ClassifierReport['state'] = 'undecided';
  private found: ProtocolName | undefined;

  /** Which nested handshake was seen: `socks` or `proxy-protocol`. */
  get nestedProtocol(): ProtocolName | undefined {
    return this.found;
  }

  push(chunk: Buffer, direction: Direction, atMs: number): ClassifierReport {
    if (this.state !== 'undecided' || direction !== 'up') return { state: this.state, detections: [] };
    this.prefix.append(chunk);
    const match = matchHandshake(this.prefix.view());
    if (match === 'more' && !this.prefix.full) return { state: 'undecided', detections: [] };
    if (match === 'more' || match === 'no') {
      this.state = 'rejected';
      return { state: 'rejected', detections: [] };
    }
    this.state = 'identified';
    this.found = match.protocol;
    const detection: Detection = { type: 'nested_proxy', confidence: 'high', evidence: match.evidence, direction, atMs };
    return { state: 'identified', detections: [detection] };
  }
}

function matchHandshake(bytes: Buffer): Match {
  if (bytes.length === 0) return 'more';
  const first = bytes[0];
  if (first === 0x05) return socks5Greeting(bytes);
  if (first === 0x04) return socks4Request(bytes);
  if (first === 0x0d) {
    const compared = Math.min(bytes.length, PROXY_V2_SIGNATURE.length);
    if (!bytes.subarray(0, compared).equals(PROXY_V2_SIGNATURE.subarray(0, compared))) return 'no';
    return compared === PROXY_V2_SIGNATURE.length ? { protocol: 'proxy-protocol', evidence: 'PROXY protocol v2 signature at the start of the tunnel' } : 'more';
  }
  if (first === 0x50) {
    const text = bytes.toString('latin1');
    if (PROXY_V1.test(text)) return { protocol: 'proxy-protocol', evidence: `PROXY protocol v1 header "${text.split(/[\r ]/, 2).join(' ')}"` };
    return PROXY_V1_STARTS.some((start) => start.startsWith(text)) ? 'more' : 'no';
  }
  return 'no';
}

/** 05 NMETHODS METHODS…: 1-9 methods, each a defined value (no-auth, GSSAPI, user/pass, CHAP…, private). */
function socks5Greeting(bytes: Buffer): Match {
  if (bytes.length < 2) return 'more';
  const count = bytes[1] ?? 0;
  if (count < 1 || count > 9) return 'no';
  if (bytes.length < 2 + count) return 'more';
  const methods = [...bytes.subarray(2, 2 + count)];
  if (!methods.every((method) => method <= 0x09 || method >= 0x80)) return 'no';
  // More bytes in the same read are either a client that does not wait for the method choice and sends
  // its request at once (05 CMD 00 ATYP …: still SOCKS), or something else that merely starts with 05.
  const rest = bytes.subarray(2 + count);
  if (rest.length > 0 && !(rest[0] === 0x05 && (rest.length < 2 || (rest[1] ?? 0) <= 0x03))) return 'no';
  return { protocol: 'socks', evidence: `SOCKS5 greeting offering methods [${methods.join(', ')}] inside the tunnel` };
}

/** 04 01|02 PORT(2) IPv4(4) USERID… 00 — SOCKS4 / 4a CONNECT or BIND. */
function socks4Request(bytes: Buffer): Match {
  if (bytes.length < 2) return 'more';
  if (bytes[1] !== 0x01 && bytes[1] !== 0x02) return 'no';
  if (bytes.length < 9) return 'more';
  // Still 'more' without the NUL: the caller gives up once its prefix is full.
  if (bytes.indexOf(0x00, 8) < 0) return 'more';
  const port = bytes.readUInt16BE(2);
  if (port === 0) return 'no';
  const address = [...bytes.subarray(4, 8)].join('.');
  return { protocol: 'socks', evidence: `SOCKS4 ${bytes[1] === 0x01 ? 'CONNECT' : 'BIND'} to ${address}:${port} inside the tunnel` };
}
