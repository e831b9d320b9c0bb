/**
 * Addresses written in the config file: IP addresses (the `hosts:` map) and `HOST:PORT` listen addresses.
 * Parsing is strict, as befits text an operator wrote: "010.0.0.1" is a mistake to report, not octal.
 */
import { formatAddress, parseCidr } from '../net/address.js';
import { normaliseHostname } from '../net/hostname.js';
import { quoteValue } from './errors.js';

export interface ListenAddress {
  /** IP address or host name to bind; IPv6 without brackets ("::1"), as net.Server.listen takes it. */
  host: string;
  /** 0 lets the system pick a free port (useful in tests). */
  port: number;
}

export type AddressTextResult = { ok: true; address: string } | { ok: false; message: string };
export type ListenAddressResult = { ok: true; listen: ListenAddress } | { ok: false; message: string };

/** One IP address (dotted-decimal IPv4 or IPv6) to its canonical text. */
export function parseAddressText(text: string): AddressTextResult {
  // parseCidr is the strict parser for operator-written addresses; without "/" it reads a single address.
  const parsed = text.includes('/') ? undefined : parseCidr(text);
  if (parsed === undefined || 'error' in parsed) {
    return { ok: false, message: `${quoteValue(text)} is not an IP address` };
  }
  return { ok: true, address: formatAddress(parsed.address) };
}

/** `127.0.0.1:3128`, `[::1]:3128`, `localhost:3128`, `0.0.0.0:1080`. */
export function parseListenAddress(text: string): ListenAddressResult {
  const fail = (why: string): ListenAddressResult => ({
    ok: false,
    message: `${quoteValue(text)} is not a listen address HOST:PORT: ${why}`,
  });
  const colon = text.lastIndexOf(':');
  if (colon === -1) return fail('the port is missing');
  const hostText = text.slice(0, colon);
  const portText = text.slice(colon + 1);

  const port = /^\d{1,5}$/.test(portText) ? Number(portText) : NaN;
  if (!(port <= 65535)) return fail(`${quoteValue(portText)} is not a port (0-65535)`);
  if (hostText === '') return fail('the host is missing (0.0.0.0 listens on every IPv4 interface)');

  if (hostText.startsWith('[') && hostText.endsWith(']')) {
    const inner = hostText.slice(1, -1);
    const address = inner.includes(':') ? parseAddressText(inner) : undefined;
    if (!address?.ok) return fail('not an IPv6 address in brackets');
    return { ok: true, listen: { host: address.address, port } };
  }
  if (hostText.includes(':')) return fail('write an IPv6 address in brackets, e.g. [::1]:3128');

  const address = parseAddressText(hostText);
  if (address.ok) return { ok: true, listen: { host: address.address, port } };
  const name = normaliseHostname(hostText);
  if ('host' in name) return { ok: true, listen: { host: name.host, port } };
  // Names that are really addresses in a legacy spelling ("127.1") are refused: write the address plainly.
  return fail(`${quoteValue(hostText)} is neither an IP address nor a host name`);
}

/** An upstream DNS server: an IP address, with a port (default 53). */
export interface ServerAddress {
  host: string;
  port: number;
}

export type ServerAddressResult = { ok: true; server: ServerAddress } | { ok: false; message: string };

const DNS_PORT = 53;

/** `1.2.3.4`, `1.2.3.4:5353`, `2001:db8::1`, `[2001:db8::1]:53`. Names are refused: resolving a resolver is circular. */
export function parseServerAddress(text: string): ServerAddressResult {
  const fail = (why: string): ServerAddressResult => ({ ok: false, message: `${quoteValue(text)} is not a DNS server address: ${why}` });
  let hostText = text;
  let port = DNS_PORT;
  const bracketed = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(text);
  if (bracketed) {
    hostText = bracketed[1] ?? '';
    if (bracketed[2] !== undefined) port = Number(bracketed[2]);
  } else if (text.split(':').length === 2) {
    const [host, portText] = text.split(':');
    hostText = host ?? '';
    if (!/^\d{1,5}$/.test(portText ?? '')) return fail('the port is not a number');
    port = Number(portText);
  }
  if (port < 1 || port > 65535) return fail(`port ${port} is not 1-65535`);
  const address = parseAddressText(hostText);
  if (!address.ok) return fail('write an IP address (IPv6 in brackets when a port follows)');
  return { ok: true, server: { host: address.address, port } };
}
