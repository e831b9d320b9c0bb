/**
 * IP address parsing, formatting and CIDR handling for the SSRF guard.
 *
 * Two ideas run through this file:
 * - A client may spell one address in many ways (`2130706433`, `0x7f.1`, `::ffff:127.0.0.1`,
 *   `64:ff9b::7f00:1`, ...). `parseIpLiteral` accepts every spelling a client library or resolver would
 *   honour, so that none of them slips past the policy as "a host name".
 * - An IPv6 address that carries an IPv4 address inside it (mapped, compatible, NAT64, 6to4, Teredo) is
 *   *judged* as that IPv4 address: `addressForJudging` is what policy and special-range checks look at.
 *
 * Nothing here throws on hostile input; parse failures are `undefined` or `{ error }`.
 */
import ipaddr from 'ipaddr.js';

export type IpAddress = ipaddr.IPv4 | ipaddr.IPv6;

/** A block of addresses: the first `prefix` bits of `address`. */
export interface CidrBlock {
  address: IpAddress;
  prefix: number;
}

/** A CIDR block with its network address (host bits cleared) and its canonical text, e.g. "10.20.0.0/16". */
export interface ParsedCidr extends CidrBlock {
  canonical: string;
}

/**
 * No literal we accept is this long (the longest IPv6 text with brackets is 47 characters, and no valid
 * host name exceeds 253). The bound keeps ipaddr.js's regular expressions away from megabyte inputs.
 */
const MAX_LITERAL_LENGTH = 256;

/** Characters of the legacy IPv4 forms: decimal, octal and hex parts separated by dots. */
const LEGACY_IPV4_CHARACTERS = /^[0-9a-fx.]+$/i;
/** Characters of an IPv6 literal, including the dotted IPv4 tail. Excludes `%`, so zone ids never parse. */
const IPV6_CHARACTERS = /^[0-9a-f:.]+$/i;
const DECIMAL_PREFIX = /^\d{1,3}$/;

export function isIPv4(addr: IpAddress): addr is ipaddr.IPv4 {
  return addr.kind() === 'ipv4';
}

/**
 * Parses an IP literal in any spelling a client might use: dotted quad, the inet_aton legacy forms
 * (`2130706433`, `0x7f000001`, `0177.0.0.1`, `127.1`, `127.0.1`, `0x7f.1`), plain IPv6 and `[IPv6]`.
 * Returns undefined for host names, out-of-range values, IPv6 zone ids (`fe80::1%eth0`) and empty text.
 */
export function parseIpLiteral(text: string): IpAddress | undefined {
  if (text.length === 0 || text.length > MAX_LITERAL_LENGTH) return undefined;
  if (text.startsWith('[')) {
    return text.endsWith(']') ? parseIPv6(text.slice(1, -1)) : undefined;
  }
  if (text.includes(':')) return parseIPv6(text);
  return parseLegacyIPv4(text);
}

function parseLegacyIPv4(text: string): ipaddr.IPv4 | undefined {
  if (!LEGACY_IPV4_CHARACTERS.test(text)) return undefined;
  try {
    // ipaddr.js implements the inet_aton forms (1 to 4 parts, each decimal, 0-octal or 0x-hex) and rejects
    // parts out of range, e.g. "256.1.1.1", "1.16777216" or "08.1.1.1".
    return ipaddr.IPv4.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * Parses IPv6 text, allowing a dotted IPv4 tail (`::ffff:1.2.3.4`). The tail is parsed here rather than
 * by ipaddr.js because ipaddr.js turns `::1.2.3.4` into the mapped `::ffff:1.2.3.4` and accepts hex or
 * octal parts in the tail; we keep the exact address and, like inet_pton, accept plain decimal only.
 */
function parseIPv6(text: string): ipaddr.IPv6 | undefined {
  if (!IPV6_CHARACTERS.test(text)) return undefined;
  const lastColon = text.lastIndexOf(':');
  if (lastColon === -1) return undefined;
  const tail = text.slice(lastColon + 1);
  const hasIPv4Tail = tail.includes('.');
  if (hasIPv4Tail && !ipaddr.IPv4.isValidFourPartDecimal(tail)) return undefined;
  const hexText = hasIPv4Tail ? `${text.slice(0, lastColon + 1)}0:0` : text;
  let parsed: ipaddr.IPv6;
  try {
    parsed = ipaddr.IPv6.parse(hexText);
  } catch {
    return undefined;
  }
  if (!hasIPv4Tail) return parsed;
  const [a = 0, b = 0, c = 0, d = 0] = ipaddr.IPv4.parse(tail).octets;
  const parts = parsed.parts.slice(0, 6);
  return new ipaddr.IPv6([...parts, (a << 8) | b, (c << 8) | d]);
}

/**
 * Where an IPv6 layout keeps its IPv4 address: in the last 32 bits, in bits 16-47 (6to4), or in the last
 * 32 bits with every bit inverted (the Teredo client address).
 */
type EmbeddingLayout = 'last-32-bits' | '6to4' | 'teredo';

interface Embedding {
  name: string;
  network: ipaddr.IPv6;
  prefix: number;
  layout: EmbeddingLayout;
}

function embedding(name: string, cidr: string, layout: EmbeddingLayout): Embedding {
  const [network, prefix] = ipaddr.IPv6.parseCIDR(cidr);
  return { name, network, prefix, layout };
}

/** The blocks are disjoint, so their order does not matter. */
const EMBEDDINGS: readonly Embedding[] = [
  embedding('ipv4-mapped', '::ffff:0:0/96', 'last-32-bits'), // RFC 4291 2.5.5.2
  embedding('ipv4-translated', '::ffff:0:0:0/96', 'last-32-bits'), // SIIT, RFC 2765
  embedding('ipv4-compatible', '::/96', 'last-32-bits'), // deprecated, RFC 4291 2.5.5.1
  embedding('nat64', '64:ff9b::/96', 'last-32-bits'), // well-known prefix, RFC 6052
  // Local-use NAT64 prefix (RFC 8215). Operators may lay it out with any RFC 6052 prefix length; we judge
  // the /96 layout, the common one.
  embedding('nat64-local', '64:ff9b:1::/48', 'last-32-bits'),
  embedding('6to4', '2002::/16', '6to4'), // RFC 3056
  embedding('teredo', '2001::/32', 'teredo'), // RFC 4380; the server address (bits 32-63) is not judged
];

function embeddingOf(addr: ipaddr.IPv6): Embedding | undefined {
  return EMBEDDINGS.find((e) => addr.match(e.network, e.prefix));
}

function ipv4FromParts(high: number, low: number): ipaddr.IPv4 {
  return new ipaddr.IPv4([high >> 8, high & 0xff, low >> 8, low & 0xff]);
}

function extractIPv4(addr: ipaddr.IPv6, layout: EmbeddingLayout): ipaddr.IPv4 {
  const part = (index: number): number => addr.parts[index] ?? 0;
  switch (layout) {
    case 'last-32-bits':
      return ipv4FromParts(part(6), part(7));
    case '6to4':
      return ipv4FromParts(part(1), part(2));
    case 'teredo':
      return ipv4FromParts(part(6) ^ 0xffff, part(7) ^ 0xffff);
  }
}

/**
 * The IPv4 address carried inside an IPv6 address, or undefined when it carries none. Covers IPv4-mapped,
 * IPv4-translated, IPv4-compatible (except `::` and `::1`, which are IPv6's own unspecified and loopback
 * addresses), NAT64 (64:ff9b::/96, and 64:ff9b:1::/48 with the IPv4 in bits 96-127), 6to4 and Teredo
 * (the client address).
 */
export function embeddedIPv4(addr: ipaddr.IPv6): ipaddr.IPv4 | undefined {
  const found = embeddingOf(addr);
  if (!found) return undefined;
  const isOwnIPv6Address =
    found.name === 'ipv4-compatible' && addr.parts[6] === 0 && (addr.parts[7] ?? 0) <= 1;
  return isOwnIPv6Address ? undefined : extractIPv4(addr, found.layout);
}

/** The address policy should judge: the embedded IPv4 address when there is one, else the address itself. */
export function addressForJudging(addr: IpAddress): IpAddress {
  return isIPv4(addr) ? addr : (embeddedIPv4(addr) ?? addr);
}

/**
 * Canonical text: IPv4 dotted decimal; IPv4-mapped IPv6 as `::ffff:1.2.3.4` (the mixed notation RFC 5952
 * section 5 recommends, so a reader sees the IPv4 address); every other IPv6 address RFC 5952 compressed.
 * No brackets, no zone id. `parseIpLiteral(formatAddress(a))` gives back `a`.
 */
export function formatAddress(addr: IpAddress): string {
  if (isIPv4(addr)) return addr.toString();
  if (addr.isIPv4MappedAddress()) return `::ffff:${addr.toIPv4Address().toString()}`;
  return addr.toRFC5952String();
}

/**
 * Parses CIDR text from configuration. A bare address means /32 or /128; host bits are accepted and
 * cleared ("10.20.3.4/16" → "10.20.0.0/16"). Parsing is strict because this is text an operator wrote:
 * dotted-decimal IPv4 without leading zeros (is "010.0.0.0" octal 8.0.0.0 or a typo?) and standard IPv6.
 *
 * A block written in an IPv6 form that only carries IPv4 addresses in its last 32 bits (e.g.
 * `::ffff:10.0.0.0/104`, `64:ff9b::a00:0/104`) is canonicalised to the IPv4 block it spells
 * ("10.0.0.0/8"), because addresses are judged as their embedded IPv4 (see `cidrContains`).
 */
export function parseCidr(text: string): ParsedCidr | { error: string } {
  const slash = text.indexOf('/');
  const addressText = slash === -1 ? text : text.slice(0, slash);
  const address = parseStrictAddress(addressText);
  if (!address) return { error: `${quote(addressText)} is not a dotted-decimal IPv4 or an IPv6 address` };
  const maxPrefix = isIPv4(address) ? 32 : 128;
  const prefixText = slash === -1 ? String(maxPrefix) : text.slice(slash + 1);
  const prefix = DECIMAL_PREFIX.test(prefixText) ? Number(prefixText) : NaN;
  if (!(prefix <= maxPrefix)) {
    return { error: `${quote(prefixText)} is not a prefix length between 0 and ${maxPrefix}` };
  }
  const block = inJudgedSpace(networkOf(address, prefix), prefix);
  return { ...block, canonical: `${formatAddress(block.address)}/${block.prefix}` };
}

function parseStrictAddress(text: string): IpAddress | undefined {
  if (text.length > MAX_LITERAL_LENGTH) return undefined;
  if (text.includes(':')) return parseIPv6(text);
  return ipaddr.IPv4.isValidFourPartDecimal(text) ? ipaddr.IPv4.parse(text) : undefined;
}

function networkOf(addr: IpAddress, prefix: number): IpAddress {
  const bytes = addr.toByteArray().map((byte, i) => {
    const bitsKept = Math.min(8, Math.max(0, prefix - i * 8));
    return byte & (0xff00 >> bitsKept);
  });
  return ipaddr.fromByteArray(bytes);
}

/** Rewrites an IPv6 block that is exactly a spelling of an IPv4 block (see parseCidr) as that IPv4 block. */
function inJudgedSpace(network: IpAddress, prefix: number): CidrBlock {
  if (isIPv4(network) || prefix < 96) return { address: network, prefix };
  // Only the layouts with the IPv4 address in the last 32 bits spell an IPv4 block bit for bit; a 6to4 or
  // Teredo block stays IPv6. embeddedIPv4 is undefined for a compatible block holding :: or ::1 (whose
  // network address is :: or ::1), which therefore stays IPv6 too.
  const ipv4 = embeddedIPv4(network);
  if (!ipv4 || embeddingOf(network)?.layout !== 'last-32-bits') return { address: network, prefix };
  return { address: ipv4, prefix: prefix - 96 };
}

/**
 * Does the block cover the address? The address matches when its judged form (its embedded IPv4, if any)
 * lies in the block, or when the address as written does: an IPv4 rule covers every spelling of its
 * addresses, and an IPv6 rule over 6to4 or Teredo space (e.g. a deny of 2001::/32) still matches those
 * addresses as written. The SSRF guard always judges the embedded IPv4, whatever rule matched.
 */
export function cidrContains(cidr: CidrBlock, addr: IpAddress): boolean {
  const judged = addressForJudging(addr);
  return cidrContainsAsWritten(cidr, judged) || (judged !== addr && cidrContainsAsWritten(cidr, addr));
}

/** Containment without judging: same family and the first `prefix` bits agree. */
export function cidrContainsAsWritten(cidr: CidrBlock, addr: IpAddress): boolean {
  if (isIPv4(cidr.address)) return isIPv4(addr) && addr.match(cidr.address, cidr.prefix);
  return !isIPv4(addr) && addr.match(cidr.address, cidr.prefix);
}

/** Quotes text for an error message; JSON escaping keeps control characters out of log lines. */
function quote(text: string): string {
  return JSON.stringify(text.length > 60 ? `${text.slice(0, 60)}…` : text);
}
