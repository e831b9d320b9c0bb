/**
 * Normalises the host a client asked for, so that policy compares one spelling per name: lower-case,
 * without the trailing dot, IDN as punycode, and IP literals (in any spelling) recognised as addresses.
 */
import { domainToASCII } from 'node:url';
import { parseIpLiteral, type IpAddress } from './address.js';

export type NormalisedHost = { host: string } | { ip: IpAddress } | { error: string };

const MAX_NAME_LENGTH = 253;
/**
 * Bound on the raw text, to cap the work done on hostile input. It is above MAX_NAME_LENGTH because IDN
 * mapping can shrink a name (a soft hyphen maps to nothing); the converted name must still fit 253.
 */
const MAX_INPUT_LENGTH = 1024;
const MAX_LABEL_LENGTH = 63;
/** Letters, digits, hyphen (LDH) plus underscore, which real names use (`_dmarc`, SRV-style labels). */
const NAME_CHARACTERS = /^[a-z0-9_.-]+$/;
const FIRST_BAD_CHARACTER = /[^a-z0-9_.-]/;
/** ASCII that may appear beside non-ASCII in an IDN before mapping; anything else is refused up front. */
const IDN_ASCII_CHARACTERS = /^[\u0080-\u{10ffff}a-zA-Z0-9_.-]+$/u;
const NON_ASCII = /[^\u0000-\u007f]/;
/** A label a URL parser reads as a number (WHATWG "ends in a number"): digits, or 0x and hex digits. */
const NUMERIC_LABEL = /^(\d+|0x[0-9a-f]*)$/;

/**
 * Normalises a requested host (without port). Returns `{ ip }` for an IP literal in any spelling,
 * including `[IPv6]` and legacy IPv4 forms like `0x7f.1`; `{ host }` for a valid name, lower-cased,
 * without one trailing dot and with IDN labels in punycode; `{ error }` otherwise. Host names may use
 * letters, digits, hyphens and underscores; whitespace is not trimmed but refused.
 */
export function normaliseHostname(text: string): NormalisedHost {
  if (text.length > MAX_INPUT_LENGTH) {
    return { error: `the host name is ${text.length} characters long; the limit is ${MAX_NAME_LENGTH}` };
  }
  if (text.startsWith('[')) {
    const ip = parseIpLiteral(text);
    return ip ? { ip } : { error: `${quote(text)} is not an IPv6 address in brackets` };
  }
  const name = withoutTrailingDot(text);
  return NON_ASCII.test(name) ? fromUnicode(name) : fromAscii(name.toLowerCase());
}

/**
 * True when `host` is a proper subdomain of `domain` ("api.github.com" of "github.com"), not the domain
 * itself. Both must already be normalised.
 */
export function isSubdomainOf(host: string, domain: string): boolean {
  return host.length > domain.length && host.endsWith(`.${domain}`);
}

function withoutTrailingDot(text: string): string {
  return text.endsWith('.') ? text.slice(0, -1) : text;
}

function fromUnicode(name: string): NormalisedHost {
  // domainToASCII runs the whole WHATWG host parser: it percent-decodes and cuts at "/" or "?", so it
  // must only see characters a name may hold. Its UTS #46 mapping lower-cases, maps full-width forms and
  // ideographic full stops, and returns "" for a name it cannot convert.
  if (!IDN_ASCII_CHARACTERS.test(name)) {
    return { error: `${quote(name)} contains characters that are not allowed in a host name` };
  }
  const ascii = domainToASCII(name);
  if (ascii === '') return { error: `${quote(name)} is not a valid internationalised host name` };
  // The mapping may have produced an IP literal (full-width digits) or a trailing dot (U+3002).
  return fromAscii(withoutTrailingDot(ascii));
}

function fromAscii(name: string): NormalisedHost {
  if (name === '') return { error: 'the host name is empty' };
  const ip = parseIpLiteral(name);
  if (ip) return { ip };
  if (name.length > MAX_NAME_LENGTH) {
    return { error: `the host name is ${name.length} characters long; the limit is ${MAX_NAME_LENGTH}` };
  }
  if (!NAME_CHARACTERS.test(name)) {
    const bad = FIRST_BAD_CHARACTER.exec(name)?.[0] ?? '';
    return { error: `${quote(name)} contains ${quote(bad)}, which is not allowed in a host name` };
  }
  const labels = name.split('.');
  if (labels.some((label) => label === '')) return { error: `${quote(name)} has an empty label` };
  const longLabel = labels.find((label) => label.length > MAX_LABEL_LENGTH);
  if (longLabel !== undefined) {
    return { error: `${quote(name)} has a label longer than ${MAX_LABEL_LENGTH} characters` };
  }
  // Not an address (parseIpLiteral said no), yet URL parsers and resolvers would try to read it as one:
  // "256.1.1.1", "1.2.3.4.5", "example.0x10". No real top-level domain is numeric.
  if (NUMERIC_LABEL.test(labels[labels.length - 1] ?? '')) {
    return { error: `${quote(name)} is neither a valid IP address nor a host name` };
  }
  if (labels.some((label) => label.startsWith('xn--')) && domainToASCII(name) !== name) {
    return { error: `${quote(name)} has an invalid punycode (xn--) label` };
  }
  return { host: name };
}

/** Quotes text for an error message, escaping control characters so a log line stays one line. */
function quote(text: string): string {
  return JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}…` : text);
}
