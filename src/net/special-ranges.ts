/**
 * Addresses an agent must not reach unless its policy names them: loopback, private, link-local, cloud
 * metadata and every other range that is not the public Internet. The SSRF guard denies a flow to such an
 * address with rule id `ssrf.<name>` unless a `cidr` rule of the agent covers it explicitly.
 *
 * Sources: the IANA IPv4 and IPv6 Special-Purpose Address Registries (RFC 6890 and its updates), the IANA
 * IPv6 Address Space registry (everything outside 2000::/3 is reserved or special), and the cloud
 * providers' own documentation for the metadata endpoints (cited in the table).
 */
import {
  addressForJudging,
  cidrContainsAsWritten,
  isIPv4,
  parseCidr,
  type CidrBlock,
  type IpAddress,
} from './address.js';

export interface SpecialRange {
  /** Stable short name, used in rule ids: `ssrf.<name>`. Several blocks may share one name. */
  readonly name: string;
  /** Canonical CIDR text of this block, e.g. "169.254.0.0/16". */
  readonly cidr: string;
  readonly prefix: number;
  /** Why the range is refused, written for the agent that reads the denial. */
  readonly reason: string;
  /** The parsed network address of `cidr`. */
  readonly network: IpAddress;
}

interface Category {
  name: string;
  reason: string;
  cidrs: string[];
}

/**
 * Categories in order of precedence for equally specific blocks; across sizes, the most specific block
 * wins (the lookup sorts by prefix length), so a metadata address is reported as `metadata`, not as
 * `link-local`, and 255.255.255.255 as `broadcast`, not as `reserved`.
 */
const CATEGORIES: readonly Category[] = [
  {
    name: 'metadata',
    reason: 'is a cloud instance metadata service, which hands out machine credentials',
    cidrs: [
      '169.254.169.254/32', // AWS, GCP, Azure, OpenStack, Oracle... instance metadata (IMDS)
      'fd00:ec2::254/128', // AWS IMDS over IPv6 (Nitro instances)
      '169.254.170.2/32', // AWS ECS task metadata and credentials endpoint
      '169.254.169.253/32', // AWS Route 53 Resolver ("Amazon DNS")
      'fd00:ec2::253/128', // AWS Route 53 Resolver over IPv6
      '100.100.100.200/32', // Alibaba Cloud ECS metadata
      '192.0.0.192/32', // Oracle Cloud (legacy) metadata
      '168.63.129.16/32', // Azure WireServer / host node: a public-looking platform address
      'fe80::a9fe:a9fe/128', // OpenStack Neutron metadata over IPv6
    ],
  },
  {
    name: 'unspecified',
    reason: 'is the unspecified "this host / this network" address',
    cidrs: ['0.0.0.0/8', '::/128'],
  },
  { name: 'loopback', reason: 'is a loopback address (the proxy host itself)', cidrs: ['127.0.0.0/8', '::1/128'] },
  {
    name: 'private',
    reason: 'is a private network address (RFC 1918 / unique local)',
    cidrs: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7'],
  },
  { name: 'link-local', reason: 'is a link-local address', cidrs: ['169.254.0.0/16', 'fe80::/10'] },
  { name: 'cgnat', reason: 'is carrier-grade NAT shared address space (RFC 6598)', cidrs: ['100.64.0.0/10'] },
  { name: 'multicast', reason: 'is a multicast address', cidrs: ['224.0.0.0/4', 'ff00::/8'] },
  { name: 'broadcast', reason: 'is the limited broadcast address', cidrs: ['255.255.255.255/32'] },
  {
    name: 'documentation',
    reason: 'is reserved for documentation and examples (RFC 5737, RFC 3849, RFC 9637)',
    cidrs: ['192.0.2.0/24', '198.51.100.0/24', '203.0.113.0/24', '2001:db8::/32', '3fff::/20'],
  },
  {
    name: 'benchmarking',
    reason: 'is reserved for network benchmarking (RFC 2544, RFC 5180)',
    cidrs: ['198.18.0.0/15', '2001:2::/48'],
  },
  {
    name: 'protocol-assignments',
    reason: 'is reserved for IETF protocol assignments (RFC 6890)',
    cidrs: ['192.0.0.0/24', '2001::/23'],
  },
  {
    name: '6to4-relay',
    reason: 'is the deprecated 6to4 relay anycast range (RFC 7526)',
    cidrs: ['192.88.99.0/24'],
  },
  { name: 'discard', reason: 'is the IPv6 discard-only prefix (RFC 6666)', cidrs: ['100::/64'] },
  { name: 'site-local', reason: 'is a deprecated IPv6 site-local address (RFC 3879)', cidrs: ['fec0::/10'] },
  {
    name: 'reserved',
    reason: 'is in reserved address space that is not routed on the Internet',
    cidrs: [
      '240.0.0.0/4', // "future use" (RFC 1112)
      // IPv6 outside global unicast 2000::/3 and the blocks above: reserved by the IETF or unassigned.
      // An IPv6 address with an embedded IPv4 (::ffff:0:0/96, 64:ff9b::/96, ...) is judged as that IPv4
      // before it gets here.
      '::/8',
      '100::/8',
      '200::/7',
      '400::/6',
      '800::/5',
      '1000::/4',
      '4000::/2',
      '8000::/2',
      'c000::/3',
      'e000::/4',
      'f000::/5',
      'f800::/6',
      'fe00::/9',
    ],
  },
];

function toSpecialRange(category: Category, cidrText: string): SpecialRange {
  const parsed = parseCidr(cidrText);
  // The table is constant: a bad entry is a programming error, caught by the first test that loads us.
  if ('error' in parsed) throw new Error(`special range ${cidrText}: ${parsed.error}`);
  return {
    name: category.name,
    cidr: parsed.canonical,
    prefix: parsed.prefix,
    reason: category.reason,
    network: parsed.address,
  };
}

/** Every special block, most specific first (the sort is stable, so table order breaks ties). */
export const SPECIAL_RANGES: readonly SpecialRange[] = CATEGORIES.flatMap((category) =>
  category.cidrs.map((cidr) => toSpecialRange(category, cidr)),
).sort((a, b) => b.prefix - a.prefix);

const IPV4_RANGES = SPECIAL_RANGES.filter((range) => isIPv4(range.network));
const IPV6_RANGES = SPECIAL_RANGES.filter((range) => !isIPv4(range.network));

function asBlock(range: SpecialRange): CidrBlock {
  return { address: range.network, prefix: range.prefix };
}

/**
 * The special range an address falls in, judging the embedded IPv4 of mapped, NAT64, 6to4, Teredo and
 * similar IPv6 addresses; undefined for a public address. The most specific block wins.
 */
export function specialRangeOf(addr: IpAddress): SpecialRange | undefined {
  const judged = addressForJudging(addr);
  const candidates = isIPv4(judged) ? IPV4_RANGES : IPV6_RANGES;
  return candidates.find((range) => cidrContainsAsWritten(asBlock(range), judged));
}

/**
 * Does a `cidr` rule unlock addresses of this special range? Only when the rule's whole block lies inside
 * the range (rule prefix >= range prefix): `10.20.0.0/16` unlocks 10.20.1.5 in `private`, while
 * `0.0.0.0/0` or `10.0.0.0/7` unlock nothing special, and only `169.254.169.254/32` itself unlocks the
 * metadata address (`169.254.0.0/16` does not). The caller must still check that the rule covers the
 * address (`cidrContains`).
 *
 * The comparison happens in the judged space: special ranges are judged addresses, and `parseCidr`
 * already rewrote rules like `::ffff:10.0.0.0/104` as `10.0.0.0/8`. A rule left in IPv6 form over 6to4 or
 * Teredo space never unlocks an IPv4 range.
 */
export function isRangeCoveredExplicitly(rule: CidrBlock, range: SpecialRange): boolean {
  return rule.prefix >= range.prefix && cidrContainsAsWritten(asBlock(range), rule.address);
}
