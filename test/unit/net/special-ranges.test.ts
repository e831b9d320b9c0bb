import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import ipaddr from 'ipaddr.js';
import {
  addressForJudging,
  formatAddress,
  parseCidr,
  parseIpLiteral,
  type CidrBlock,
  type IpAddress,
} from '../../../src/net/address.js';
import {
  SPECIAL_RANGES,
  isRangeCoveredExplicitly,
  specialRangeOf,
  type SpecialRange,
} from '../../../src/net/special-ranges.js';

function ip(text: string): IpAddress {
  const parsed = parseIpLiteral(text);
  if (!parsed) throw new Error(`fixture ${text} does not parse`);
  return parsed;
}

function rangeNamed(name: string, cidr: string): SpecialRange {
  const range = SPECIAL_RANGES.find((r) => r.name === name && r.cidr === cidr);
  if (!range) throw new Error(`no special range ${name} ${cidr}`);
  return range;
}

function rule(text: string): CidrBlock {
  const parsed = parseCidr(text);
  if ('error' in parsed) throw new Error(`fixture ${text}: ${parsed.error}`);
  return parsed;
}

describe('specialRangeOf', () => {
  it.each([
    // cloud metadata, judged before the link-local / private / cgnat blocks that hold it
    ['169.254.169.254', 'metadata', '169.254.169.254/32'],
    ['169.254.170.2', 'metadata', '169.254.170.2/32'],
    ['169.254.169.253', 'metadata', '169.254.169.253/32'],
    ['fd00:ec2::254', 'metadata', 'fd00:ec2::254/128'],
    ['fd00:ec2::253', 'metadata', 'fd00:ec2::253/128'],
    ['100.100.100.200', 'metadata', '100.100.100.200/32'],
    ['192.0.0.192', 'metadata', '192.0.0.192/32'],
    ['168.63.129.16', 'metadata', '168.63.129.16/32'],
    ['fe80::a9fe:a9fe', 'metadata', 'fe80::a9fe:a9fe/128'],
    // metadata in other spellings
    ['2852039166', 'metadata', '169.254.169.254/32'],
    ['0xa9.0xfe.0xa9.0xfe', 'metadata', '169.254.169.254/32'],
    ['::ffff:169.254.169.254', 'metadata', '169.254.169.254/32'],
    ['64:ff9b::a9fe:a9fe', 'metadata', '169.254.169.254/32'],
    ['2002:a9fe:a9fe::1', 'metadata', '169.254.169.254/32'],
    ['2001:0:4136:e378:8000:63bf:5601:5601', 'metadata', '169.254.169.254/32'],
    // neighbours of metadata addresses are just link-local
    ['169.254.169.255', 'link-local', '169.254.0.0/16'],
    ['fd00:ec2::255', 'private', 'fc00::/7'],
    ['100.100.100.201', 'cgnat', '100.64.0.0/10'],
    ['192.0.0.193', 'protocol-assignments', '192.0.0.0/24'],
    // unspecified
    ['0.0.0.0', 'unspecified', '0.0.0.0/8'],
    ['0.255.255.255', 'unspecified', '0.0.0.0/8'],
    ['::', 'unspecified', '::/128'],
    // loopback
    ['127.0.0.1', 'loopback', '127.0.0.0/8'],
    ['127.255.255.254', 'loopback', '127.0.0.0/8'],
    ['2130706433', 'loopback', '127.0.0.0/8'],
    ['0x7f.1', 'loopback', '127.0.0.0/8'],
    ['::1', 'loopback', '::1/128'],
    ['::ffff:127.0.0.1', 'loopback', '127.0.0.0/8'],
    ['::ffff:0:7f00:1', 'loopback', '127.0.0.0/8'],
    ['::7f00:1', 'loopback', '127.0.0.0/8'],
    ['64:ff9b::7f00:1', 'loopback', '127.0.0.0/8'],
    ['64:ff9b:1::7f00:1', 'loopback', '127.0.0.0/8'],
    ['2002:7f00:1::', 'loopback', '127.0.0.0/8'],
    ['2001:0:4136:e378:8000:63bf:80ff:fffe', 'loopback', '127.0.0.0/8'],
    // private
    ['10.0.0.0', 'private', '10.0.0.0/8'],
    ['10.255.255.255', 'private', '10.0.0.0/8'],
    ['172.16.0.1', 'private', '172.16.0.0/12'],
    ['172.31.255.255', 'private', '172.16.0.0/12'],
    ['192.168.1.1', 'private', '192.168.0.0/16'],
    ['fc00::1', 'private', 'fc00::/7'],
    ['fdff:ffff::1', 'private', 'fc00::/7'],
    // link-local
    ['169.254.0.1', 'link-local', '169.254.0.0/16'],
    ['fe80::1', 'link-local', 'fe80::/10'],
    ['febf:ffff::1', 'link-local', 'fe80::/10'],
    // cgnat
    ['100.64.0.0', 'cgnat', '100.64.0.0/10'],
    ['100.127.255.255', 'cgnat', '100.64.0.0/10'],
    // multicast
    ['224.0.0.1', 'multicast', '224.0.0.0/4'],
    ['239.255.255.250', 'multicast', '224.0.0.0/4'],
    ['ff02::1', 'multicast', 'ff00::/8'],
    // broadcast, reserved
    ['255.255.255.255', 'broadcast', '255.255.255.255/32'],
    ['4294967295', 'broadcast', '255.255.255.255/32'],
    ['240.0.0.1', 'reserved', '240.0.0.0/4'],
    ['255.255.255.254', 'reserved', '240.0.0.0/4'],
    // documentation
    ['192.0.2.1', 'documentation', '192.0.2.0/24'],
    ['198.51.100.7', 'documentation', '198.51.100.0/24'],
    ['203.0.113.255', 'documentation', '203.0.113.0/24'],
    ['2001:db8::1', 'documentation', '2001:db8::/32'],
    ['3fff::1', 'documentation', '3fff::/20'],
    ['2001:0:4136:e378:8000:63bf:3fff:fdd2', 'documentation', '192.0.2.0/24'],
    // benchmarking
    ['198.18.0.1', 'benchmarking', '198.18.0.0/15'],
    ['198.19.255.255', 'benchmarking', '198.18.0.0/15'],
    ['2001:2::1', 'benchmarking', '2001:2::/48'],
    // protocol assignments, 6to4 relay, discard, site-local
    ['192.0.0.8', 'protocol-assignments', '192.0.0.0/24'],
    ['2001:1::1', 'protocol-assignments', '2001::/23'],
    ['192.88.99.1', '6to4-relay', '192.88.99.0/24'],
    ['100::1', 'discard', '100::/64'],
    ['fec0::1', 'site-local', 'fec0::/10'],
    // IPv6 outside global unicast, and IPv6 that only looks like an embedding
    ['::2:0:0:1', 'reserved', '::/8'],
    ['100:1::1', 'reserved', '100::/8'],
    ['4000::1', 'reserved', '4000::/2'],
    ['fe00::1', 'reserved', 'fe00::/9'],
    ['64:ff9b:0:0:1::7f00:1', 'reserved', '::/8'],
  ])('%s is %s (%s)', (text, name, cidr) => {
    const range = specialRangeOf(ip(text));
    expect(range?.name).toBe(name);
    expect(range?.cidr).toBe(cidr);
  });

  it.each([
    ['8.8.8.8'],
    ['1.1.1.1'],
    ['100.63.255.255'],
    ['100.128.0.0'],
    ['172.15.255.255'],
    ['172.32.0.0'],
    ['169.253.255.255'],
    ['169.255.0.0'],
    ['192.0.1.1'],
    ['198.17.255.255'],
    ['198.20.0.0'],
    ['223.255.255.255'],
    ['11.0.0.1'],
    ['2606:4700:4700::1111'],
    ['2001:4860:4860::8888'],
    ['::ffff:8.8.8.8'],
    ['64:ff9b::808:808'],
    ['2002:808:808::1'],
    ['2001:0:4136:e378:8000:63bf:f7f7:f7f7'],
  ])('%s is public', (text) => {
    expect(specialRangeOf(ip(text))).toBeUndefined();
  });

  it('reports every block of the table under its own name (no block is wholly shadowed)', () => {
    // The first or last address of each block; the first alone is not enough, since e.g. 2001:: (start
    // of 2001::/23) is a Teredo address, judged as its IPv4 client 255.255.255.255.
    for (const range of SPECIAL_RANGES) {
      const last =
        range.network.kind() === 'ipv4'
          ? ipaddr.IPv4.broadcastAddressFromCIDR(range.cidr)
          : ipaddr.IPv6.broadcastAddressFromCIDR(range.cidr);
      const verdicts = [specialRangeOf(range.network), specialRangeOf(last)];
      expect(verdicts, range.cidr).toContain(range);
    }
  });

  it('judges the network address of 2001::/23 as the Teredo client it spells', () => {
    expect(specialRangeOf(ip('2001::'))?.name).toBe('broadcast');
  });

  it('gives every range a name usable in a rule id and a reason', () => {
    for (const range of SPECIAL_RANGES) {
      expect(range.name).toMatch(/^[a-z0-9-]+$/);
      expect(range.reason.length).toBeGreaterThan(10);
      expect(parseCidr(range.cidr)).toMatchObject({ canonical: range.cidr, prefix: range.prefix });
    }
  });
});

describe('isRangeCoveredExplicitly', () => {
  const privateTen = rangeNamed('private', '10.0.0.0/8');
  const metadata = rangeNamed('metadata', '169.254.169.254/32');
  const linkLocal = rangeNamed('link-local', '169.254.0.0/16');
  const ula = rangeNamed('private', 'fc00::/7');

  it.each([
    ['10.20.0.0/16', privateTen, true],
    ['10.0.0.0/8', privateTen, true],
    ['10.20.1.5/32', privateTen, true],
    ['::ffff:10.0.0.0/104', privateTen, true], // compared as 10.0.0.0/8
    ['64:ff9b::a14:0/112', privateTen, true], // compared as 10.20.0.0/16
    ['0.0.0.0/0', privateTen, false],
    ['10.0.0.0/7', privateTen, false],
    ['11.0.0.0/8', privateTen, false],
    ['2002:a00::/24', privateTen, false], // 6to4 rules never unlock IPv4 ranges
    ['fd00::/8', privateTen, false],
    ['169.254.169.254/32', metadata, true],
    ['169.254.169.254', metadata, true],
    ['169.254.0.0/16', metadata, false],
    ['169.254.0.0/16', linkLocal, true],
    ['fd00::/8', ula, true],
    ['::/0', ula, false],
    ['10.0.0.0/8', ula, false],
  ])('rule %s unlocks %o: %s', (ruleText, range, expected) => {
    expect(isRangeCoveredExplicitly(rule(ruleText), range)).toBe(expected);
  });
});

/** Every way a client can write the IPv4 address n, as text. */
function spellingsOf(n: number): string[] {
  const octets = [n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff] as const;
  const [a, b, c, d] = octets;
  const high = (n >>> 16).toString(16);
  const low = (n & 0xffff).toString(16);
  const spellings = [
    octets.join('.'),
    String(n),
    `0x${n.toString(16)}`,
    `0${n.toString(8)}`,
    octets.map((o) => `0${o.toString(8)}`).join('.'),
    octets.map((o) => `0x${o.toString(16)}`).join('.'),
    `${a}.${b}.${(c << 8) | d}`,
    `${a}.${(b << 16) | (c << 8) | d}`,
    `0x${a.toString(16)}.${(b << 16) | (c << 8) | d}`,
    `::ffff:${octets.join('.')}`,
    `[::ffff:${high}:${low}]`,
    `::ffff:0:${octets.join('.')}`,
    `64:ff9b::${octets.join('.')}`,
    `64:ff9b:1::${high}:${low}`,
    `2002:${high}:${low}::1`,
    `2001:0:4136:e378:8000:63bf:${((~n >>> 16) & 0xffff).toString(16)}:${(~n & 0xffff).toString(16)}`,
  ];
  // ::0.0.0.0 and ::0.0.0.1 are IPv6's own :: and ::1, not IPv4-compatible addresses.
  return n >= 2 ? [...spellings, `::${octets.join('.')}`] : spellings;
}

describe('properties', () => {
  it('every spelling of an IPv4 address is judged as that address and gets the same verdict', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), (n) => {
        const spellings = spellingsOf(n);
        const expected = ip(spellings[0] ?? '');
        const verdict = specialRangeOf(expected);
        for (const spelling of spellings) {
          const parsed = parseIpLiteral(spelling);
          expect(parsed, spelling).toBeDefined();
          if (!parsed) continue;
          expect(formatAddress(addressForJudging(parsed)), spelling).toBe(formatAddress(expected));
          expect(specialRangeOf(parsed), spelling).toBe(verdict);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('the addresses of special blocks are special, with the same spellings', () => {
    const ipv4Blocks = SPECIAL_RANGES.filter((range) => range.network.kind() === 'ipv4');
    fc.assert(
      fc.property(fc.constantFrom(...ipv4Blocks), fc.integer({ min: 0, max: 0xffffffff }), (range, noise) => {
        const network = range.network.toByteArray().reduce((acc, byte) => acc * 256 + byte, 0);
        const hostBits = range.prefix === 0 ? noise : noise % 2 ** (32 - range.prefix);
        const n = network + hostBits;
        for (const spelling of spellingsOf(n)) {
          const found = specialRangeOf(ip(spelling));
          expect(found, spelling).toBeDefined();
          expect(found?.prefix, spelling).toBeGreaterThanOrEqual(range.prefix);
        }
      }),
      { numRuns: 300 },
    );
  });
});
