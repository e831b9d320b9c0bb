import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import ipaddr from 'ipaddr.js';
import {
  addressForJudging,
  cidrContains,
  cidrContainsAsWritten,
  embeddedIPv4,
  formatAddress,
  parseCidr,
  parseIpLiteral,
  type IpAddress,
  type ParsedCidr,
} from '../../../src/net/address.js';

/** Parses or fails the test: for fixtures that must be addresses. */
function ip(text: string): IpAddress {
  const parsed = parseIpLiteral(text);
  if (!parsed) throw new Error(`fixture ${text} does not parse`);
  return parsed;
}

function ipv6(text: string): ipaddr.IPv6 {
  return ipaddr.IPv6.parse(text);
}

function cidr(text: string): ParsedCidr {
  const parsed = parseCidr(text);
  if ('error' in parsed) throw new Error(`fixture ${text}: ${parsed.error}`);
  return parsed;
}

function formatted(text: string): string | undefined {
  const parsed = parseIpLiteral(text);
  return parsed && formatAddress(parsed);
}

describe('parseIpLiteral', () => {
  it.each([
    ['127.0.0.1', '127.0.0.1'],
    ['2130706433', '127.0.0.1'],
    ['0x7f000001', '127.0.0.1'],
    ['0X7F000001', '127.0.0.1'],
    ['017700000001', '127.0.0.1'],
    ['0177.0.0.1', '127.0.0.1'],
    ['0177.0000.0.01', '127.0.0.1'],
    ['127.1', '127.0.0.1'],
    ['127.0.1', '127.0.0.1'],
    ['0x7f.1', '127.0.0.1'],
    ['0x7f.0x0.0.1', '127.0.0.1'],
    ['169.254.43518', '169.254.169.254'],
    ['0xa9fea9fe', '169.254.169.254'],
    ['2852039166', '169.254.169.254'],
    ['0251.0376.0251.0376', '169.254.169.254'],
    ['0xa9.0xfe.0xa9.0xfe', '169.254.169.254'],
    ['0', '0.0.0.0'],
    ['4294967295', '255.255.255.255'],
    ['1.256', '1.0.1.0'],
    ['0xcafe', '0.0.202.254'],
    ['::1', '::1'],
    ['[::1]', '::1'],
    ['::', '::'],
    ['[2001:DB8::A]', '2001:db8::a'],
    ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
    ['::ffff:127.0.0.1', '::ffff:127.0.0.1'],
    ['::FFFF:7f00:1', '::ffff:127.0.0.1'],
    ['[::ffff:169.254.169.254]', '::ffff:169.254.169.254'],
    ['::1.2.3.4', '::102:304'],
    ['1:2:3:4:5:6:1.2.3.4', '1:2:3:4:5:6:102:304'],
    ['64:ff9b::127.0.0.1', '64:ff9b::7f00:1'],
  ])('%s is %s', (text, expected) => {
    expect(formatted(text)).toBe(expected);
  });

  it.each([
    [''],
    ['example.com'],
    ['localhost'],
    ['1.2.3.4.example.com'],
    ['1.2.3.4.5'],
    ['cafe'],
    ['256.1.1.1'],
    ['1.16777216'],
    ['1.1.65536'],
    ['4294967296'],
    ['0x100000000'],
    ['08.0.0.1'],
    ['0x100.0.0.1'],
    ['1..2'],
    ['.1.2.3'],
    ['1.2.3.'],
    [' 1.2.3.4'],
    ['1.2.3.4 '],
    ['-1'],
    ['+1'],
    ['1e3'],
    ['[1.2.3.4]'],
    ['[::1'],
    ['::1]'],
    ['fe80::1%eth0'],
    ['[fe80::1%25eth0]'],
    ['fe80::1%1'],
    ['1::2::3'],
    ['1:2:3:4:5:6:7:8:9'],
    ['12345::'],
    [':1'],
    ['::ffff:0x7f.0.0.1'],
    ['::ffff:127.1'],
    ['::ffff:0127.0.0.1'],
    ['::ffff:256.0.0.1'],
    ['1:2:3:4:5:6:7:1.2.3.4'],
    ['example.com:80'],
    ['１２７.０.０.１'],
  ])('%j is not an IP literal', (text) => {
    expect(parseIpLiteral(text)).toBeUndefined();
  });

  it('refuses very long input without parsing it', () => {
    expect(parseIpLiteral(`${'0'.repeat(300)}1`)).toBeUndefined();
    expect(parseIpLiteral('1:'.repeat(100_000))).toBeUndefined();
  });
});

describe('embeddedIPv4', () => {
  it.each([
    ['::ffff:7f00:1', '127.0.0.1'], // IPv4-mapped
    ['::ffff:0:7f00:1', '127.0.0.1'], // IPv4-translated (SIIT)
    ['::7f00:1', '127.0.0.1'], // IPv4-compatible
    ['::2', '0.0.0.2'],
    ['64:ff9b::7f00:1', '127.0.0.1'], // NAT64 well-known prefix
    ['64:ff9b::a9fe:a9fe', '169.254.169.254'],
    ['64:ff9b:1::a9fe:a9fe', '169.254.169.254'], // NAT64 local-use prefix
    ['64:ff9b:1:ffff::7f00:1', '127.0.0.1'],
    ['2002:7f00:1::', '127.0.0.1'], // 6to4
    ['2002:a9fe:a9fe:1234::5', '169.254.169.254'],
    ['2001:0:4136:e378:8000:63bf:80ff:fffe', '127.0.0.1'], // Teredo: client = last 32 bits inverted
    ['2001:0:4136:e378:8000:63bf:3fff:fdd2', '192.0.2.45'],
  ])('%s carries %s', (text, expected) => {
    expect(embeddedIPv4(ipv6(text))?.toString()).toBe(expected);
  });

  it.each([
    ['::'], // IPv6 unspecified, not 0.0.0.0
    ['::1'], // IPv6 loopback, not 0.0.0.1
    ['2001:db8::1'],
    ['2606:4700:4700::1111'],
    ['64:ff9b:0:0:1::7f00:1'], // outside both NAT64 prefixes
    ['fe80::1'],
  ])('%s carries no IPv4 address', (text) => {
    expect(embeddedIPv4(ipv6(text))).toBeUndefined();
  });
});

describe('addressForJudging', () => {
  it('judges the embedded IPv4 address', () => {
    expect(formatAddress(addressForJudging(ip('::ffff:10.0.0.5')))).toBe('10.0.0.5');
    expect(formatAddress(addressForJudging(ip('2002:7f00:1::')))).toBe('127.0.0.1');
  });

  it('leaves other addresses as they are', () => {
    expect(formatAddress(addressForJudging(ip('10.0.0.5')))).toBe('10.0.0.5');
    expect(formatAddress(addressForJudging(ip('2001:db8::1')))).toBe('2001:db8::1');
    expect(formatAddress(addressForJudging(ip('::1')))).toBe('::1');
  });
});

describe('parseCidr', () => {
  it.each([
    ['10.20.3.4/16', '10.20.0.0/16'],
    ['10.20.0.0/16', '10.20.0.0/16'],
    ['10.0.0.1', '10.0.0.1/32'],
    ['0.0.0.0/0', '0.0.0.0/0'],
    ['255.255.255.255/1', '128.0.0.0/1'],
    ['10.0.0.0/008', '10.0.0.0/8'],
    ['2001:db8::1', '2001:db8::1/128'],
    ['2001:DB8:1234::/32', '2001:db8::/32'],
    ['fe80::1/10', 'fe80::/10'],
    ['::/0', '::/0'],
    ['::1/128', '::1/128'],
    ['::/96', '::/96'], // holds :: and ::1, so it is not a spelling of an IPv4 block
    // IPv6 spellings of IPv4 blocks become the IPv4 block.
    ['::ffff:10.0.0.0/104', '10.0.0.0/8'],
    ['::ffff:10.1.2.3/120', '10.1.2.0/24'],
    ['::ffff:0:0/96', '0.0.0.0/0'],
    ['64:ff9b::a00:0/104', '10.0.0.0/8'],
    ['::0.0.0.2/127', '0.0.0.2/31'],
    // 6to4 and Teredo blocks are not bit-for-bit IPv4 blocks: they stay IPv6.
    ['2002:a00::/24', '2002:a00::/24'],
    ['2001::/32', '2001::/32'],
    ['::ffff:0:0/95', '::fffe:0:0/95'],
  ])('%s is canonically %s', (text, expected) => {
    expect(cidr(text).canonical).toBe(expected);
  });

  it.each([
    [''],
    ['/8'],
    ['10.0.0.0/'],
    ['10.0.0.0/33'],
    ['10.0.0.0/-1'],
    ['10.0.0.0/1.5'],
    ['10.0.0.0/ 8'],
    ['10.0.0.0/8/8'],
    ['10.0.0.0/0x8'],
    ['010.0.0.0/8'],
    ['0x0a.0.0.0/8'],
    ['10.0.0/8'],
    ['167772160/8'],
    ['example.com/8'],
    ['::/129'],
    ['fe80::1%eth0/64'],
    ['[::1]/128'],
  ])('%j is refused with a reason', (text) => {
    const parsed = parseCidr(text);
    expect(parsed).toHaveProperty('error');
    expect('error' in parsed && parsed.error.length > 0).toBe(true);
  });

  it('refuses very long input', () => {
    expect(parseCidr(`${'1:'.repeat(50_000)}/8`)).toHaveProperty('error');
  });

  it('reports the prefix and the network address', () => {
    const parsed = cidr('192.168.7.9/20');
    expect(parsed.prefix).toBe(20);
    expect(formatAddress(parsed.address)).toBe('192.168.0.0');
  });
});

describe('cidrContains', () => {
  const ten = cidr('10.0.0.0/8');

  it.each([['10.1.2.3'], ['::ffff:10.1.2.3'], ['64:ff9b::a01:203'], ['2002:a01:203::1'], ['0xa010203']])(
    'an IPv4 rule covers every spelling of its addresses: %s',
    (text) => {
      expect(cidrContains(ten, ip(text))).toBe(true);
    },
  );

  it.each([['11.0.0.1'], ['9.255.255.255'], ['2001:db8::a01:203'], ['::ffff:11.0.0.1']])(
    '10.0.0.0/8 does not cover %s',
    (text) => {
      expect(cidrContains(ten, ip(text))).toBe(false);
    },
  );

  it('a rule written as mapped IPv6 covers the plain IPv4 address', () => {
    expect(cidrContains(cidr('::ffff:10.0.0.0/104'), ip('10.0.0.5'))).toBe(true);
  });

  it('an IPv6 rule over Teredo space matches Teredo addresses as written, not their client', () => {
    const teredo = cidr('2001::/32');
    expect(cidrContains(teredo, ip('2001:0:4136:e378:8000:63bf:80ff:fffe'))).toBe(true);
    expect(cidrContains(teredo, ip('127.0.0.1'))).toBe(false);
  });

  it('never matches across families as written', () => {
    expect(cidrContainsAsWritten(cidr('::/0'), ip('1.2.3.4'))).toBe(false);
    expect(cidrContainsAsWritten(cidr('0.0.0.0/0'), ip('::1'))).toBe(false);
    expect(cidrContainsAsWritten(cidr('::/0'), ip('::ffff:1.2.3.4'))).toBe(true);
  });
});

const anyIPv4 = fc
  .array(fc.integer({ min: 0, max: 255 }), { minLength: 4, maxLength: 4 })
  .map((octets): IpAddress => new ipaddr.IPv4(octets));
const anyIPv6 = fc
  .array(fc.integer({ min: 0, max: 0xffff }), { minLength: 8, maxLength: 8 })
  .map((parts): IpAddress => new ipaddr.IPv6(parts));
const anyAddress = fc.oneof(anyIPv4, anyIPv6);

function bytesOf(addr: IpAddress | undefined): number[] | undefined {
  return addr?.toByteArray();
}

describe('properties', () => {
  it('format then parse gives back the same address', () => {
    fc.assert(
      fc.property(anyAddress, (addr) => {
        const again = parseIpLiteral(formatAddress(addr));
        expect(again?.kind()).toBe(addr.kind());
        expect(bytesOf(again)).toEqual(bytesOf(addr));
      }),
    );
  });

  it('parse then format then parse is the identity for generated literals', () => {
    fc.assert(
      fc.property(fc.oneof(fc.ipV4(), fc.ipV4Extended(), fc.ipV6()), (text) => {
        const parsed = parseIpLiteral(text);
        expect(parsed).toBeDefined();
        expect(bytesOf(parseIpLiteral(formatAddress(ip(text))))).toEqual(bytesOf(parsed));
      }),
    );
  });

  it('a bracketed IPv6 literal is the same address as the bare one', () => {
    fc.assert(
      fc.property(fc.ipV6(), (text) => {
        expect(bytesOf(parseIpLiteral(`[${text}]`))).toEqual(bytesOf(parseIpLiteral(text)));
      }),
    );
  });

  it('a canonical CIDR parses to itself and contains its own network address', () => {
    fc.assert(
      fc.property(anyAddress, fc.integer({ min: 0, max: 128 }), (addr, bits) => {
        const prefix = Math.min(bits, addr.kind() === 'ipv4' ? 32 : 128);
        const parsed = cidr(`${formatAddress(addr)}/${prefix}`);
        expect(cidr(parsed.canonical).canonical).toBe(parsed.canonical);
        expect(cidrContains(parsed, addr)).toBe(true);
      }),
    );
  });

  const ipAlphabet = fc.constantFrom(...'0123456789abcdefxX.:[]%/ -'.split(''));
  it('never throws, whatever the input', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.string({ unit: 'binary', maxLength: 64 }), fc.string({ unit: ipAlphabet, maxLength: 48 })),
        (text) => {
          const parsed = parseIpLiteral(text);
          if (parsed) expect(parseIpLiteral(formatAddress(parsed))).toBeDefined();
          parseCidr(text);
        },
      ),
      { numRuns: 2000 },
    );
  });
});
