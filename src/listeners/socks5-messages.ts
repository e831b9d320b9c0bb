import ipaddr from 'ipaddr.js';

/**
 * SOCKS5 wire messages (RFC 1928, RFC 1929 for user/password). Pure parsers over a buffer that may
 * hold a partial message: each returns `undefined` while more bytes are needed, an error value for a
 * malformed message, or the message with the number of bytes it used.
 */

export const SOCKS_VERSION = 0x05;
export const AUTH_VERSION = 0x01;

export const Method = { NO_AUTH: 0x00, USER_PASSWORD: 0x02, NO_ACCEPTABLE: 0xff } as const;
export const Command = { CONNECT: 0x01, BIND: 0x02, UDP_ASSOCIATE: 0x03 } as const;
export const AddressType = { IPV4: 0x01, DOMAIN: 0x03, IPV6: 0x04 } as const;

/** Reply codes (RFC 1928 §6). */
export const Reply = {
  SUCCEEDED: 0x00,
  GENERAL_FAILURE: 0x01,
  NOT_ALLOWED_BY_RULESET: 0x02,
  NETWORK_UNREACHABLE: 0x03,
  HOST_UNREACHABLE: 0x04,
  CONNECTION_REFUSED: 0x05,
  TTL_EXPIRED: 0x06,
  COMMAND_NOT_SUPPORTED: 0x07,
  ADDRESS_TYPE_NOT_SUPPORTED: 0x08,
} as const;

export type Parsed<T> = undefined | { error: string; reply?: number } | { value: T; used: number };

export function parseGreeting(buffer: Buffer): Parsed<{ methods: number[] }> {
  if (buffer.length < 2) return undefined;
  if (buffer[0] !== SOCKS_VERSION) return { error: `not SOCKS5 (version byte ${buffer[0]})` };
  const count = buffer[1] ?? 0;
  if (count === 0) return { error: 'SOCKS5 greeting offers no authentication method' };
  if (buffer.length < 2 + count) return undefined;
  return { value: { methods: [...buffer.subarray(2, 2 + count)] }, used: 2 + count };
}

export function parseUserPassword(buffer: Buffer): Parsed<{ user: string; password: string }> {
  if (buffer.length < 2) return undefined;
  if (buffer[0] !== AUTH_VERSION) return { error: `unsupported user/password auth version ${buffer[0]}` };
  const userLength = buffer[1] ?? 0;
  if (buffer.length < 2 + userLength + 1) return undefined;
  const passwordLength = buffer[2 + userLength] ?? 0;
  const end = 3 + userLength + passwordLength;
  if (buffer.length < end) return undefined;
  if (userLength === 0) return { error: 'empty SOCKS5 user name' };
  return {
    value: {
      user: buffer.subarray(2, 2 + userLength).toString('utf8'),
      password: buffer.subarray(3 + userLength, end).toString('utf8'),
    },
    used: end,
  };
}

export interface SocksRequest {
  command: number;
  /** Domain name as sent, or the IP address in text form. */
  host: string;
  port: number;
}

export function parseRequest(buffer: Buffer): Parsed<SocksRequest> {
  if (buffer.length < 5) return undefined;
  if (buffer[0] !== SOCKS_VERSION) return { error: `bad request version ${buffer[0]}`, reply: Reply.GENERAL_FAILURE };
  const command = buffer[1] ?? 0;
  const type = buffer[3];
  let host: string;
  let offset: number;
  if (type === AddressType.IPV4) {
    if (buffer.length < 10) return undefined;
    host = [...buffer.subarray(4, 8)].join('.');
    offset = 8;
  } else if (type === AddressType.IPV6) {
    if (buffer.length < 22) return undefined;
    const groups: string[] = [];
    for (let i = 0; i < 8; i++) groups.push(buffer.readUInt16BE(4 + i * 2).toString(16));
    host = groups.join(':');
    offset = 20;
  } else if (type === AddressType.DOMAIN) {
    const length = buffer[4] ?? 0;
    if (buffer.length < 5 + length + 2) return undefined;
    if (length === 0) return { error: 'empty domain name', reply: Reply.GENERAL_FAILURE };
    host = buffer.subarray(5, 5 + length).toString('latin1');
    offset = 5 + length;
  } else {
    return { error: `address type ${type} is not supported`, reply: Reply.ADDRESS_TYPE_NOT_SUPPORTED };
  }
  return { value: { command, host, port: buffer.readUInt16BE(offset) }, used: offset + 2 };
}

/** A reply with the bound address (the proxy's side of the upstream connection, or zeros). */
export function encodeReply(code: number, bound?: { address: string; port: number }): Buffer {
  const parsed = bound && ipaddr.isValid(bound.address) ? ipaddr.process(bound.address) : undefined;
  const bytes = parsed ? parsed.toByteArray() : [0, 0, 0, 0];
  const type = bytes.length === 4 ? AddressType.IPV4 : AddressType.IPV6;
  const reply = Buffer.alloc(4 + bytes.length + 2);
  reply.set([SOCKS_VERSION, code, 0x00, type, ...bytes]);
  reply.writeUInt16BE(parsed && bound ? bound.port : 0, 4 + bytes.length);
  return reply;
}
