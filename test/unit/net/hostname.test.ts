import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { formatAddress } from '../../../src/net/address.js';
import { isSubdomainOf, normaliseHostname, type NormalisedHost } from '../../../src/net/hostname.js';

/** A comparable view of a result: addresses as canonical text. */
function view(result: NormalisedHost): { host: string } | { ip: string } | { error: true } {
  if ('ip' in result) return { ip: formatAddress(result.ip) };
  if ('host' in result) return { host: result.host };
  return { error: true };
}

function flipAsciiCase(text: string, mask: boolean[]): string {
  return [...text].map((ch, i) => (mask[i % mask.length] ? ch.toUpperCase() : ch)).join('');
}

describe('normaliseHostname', () => {
  it.each([
    ['example.com', 'example.com'],
    ['Example.COM', 'example.com'],
    ['example.com.', 'example.com'],
    ['WWW.Example.Com.', 'www.example.com'],
    ['localhost', 'localhost'],
    ['_dmarc.example.com', '_dmarc.example.com'],
    ['a-b.c-d.io', 'a-b.c-d.io'],
    ['1.2.3.4.example.com', '1.2.3.4.example.com'],
    ['1.2.3.4.face', '1.2.3.4.face'],
    ['cafe', 'cafe'],
    ['Bücher.de', 'xn--bcher-kva.de'],
    ['BÜCHER.DE.', 'xn--bcher-kva.de'],
    ['xn--bcher-kva.de', 'xn--bcher-kva.de'],
    ['例え.jp', 'xn--r8jz45g.jp'],
    ['例え.jp。', 'xn--r8jz45g.jp'],
    ['ａ.ｃｏｍ', 'a.com'],
    ['exa\u00admple.com', 'example.com'], // a soft hyphen maps to nothing
    [`${'a'.repeat(63)}.com`, `${'a'.repeat(63)}.com`],
  ])('%s is the host %s', (text, host) => {
    expect(view(normaliseHostname(text))).toEqual({ host });
  });

  it.each([
    ['127.0.0.1', '127.0.0.1'],
    ['127.0.0.1.', '127.0.0.1'],
    ['0x7f.1', '127.0.0.1'],
    ['0X7F.1', '127.0.0.1'],
    ['2130706433', '127.0.0.1'],
    ['0177.0.0.1', '127.0.0.1'],
    ['１２７.０.０.１', '127.0.0.1'],
    ['０ｘ７ｆ.１', '127.0.0.1'],
    ['[::1]', '::1'],
    ['::1', '::1'],
    ['[::FFFF:169.254.169.254]', '::ffff:169.254.169.254'],
    ['[2001:DB8::1]', '2001:db8::1'],
  ])('%s is the address %s', (text, address) => {
    expect(view(normaliseHostname(text))).toEqual({ ip: address });
  });

  it.each([
    [''],
    ['.'],
    ['a..b'],
    ['.example.com'],
    ['example.com..'],
    [`${'a'.repeat(64)}.com`],
    [`${'a.'.repeat(126)}ab`], // 254 characters
    ['ex ample.com'],
    [' example.com'],
    ['example.com/path'],
    ['user@example.com'],
    ['example.com:443'],
    ['%31.com'],
    ['a*b.com'],
    ['*.example.com'],
    ['exa\u0000mple.com'],
    ['a／b.com'],
    ['a\u3000b.com'],
    ['a\u200db.com'],
    ['\ud800.com'],
    ['256.1.1.1'],
    ['1.2.3.4.5'],
    ['127.0.0.08'],
    ['example.123'],
    ['example.0x10'],
    ['x.１２３'],
    ['xn--abc.com'],
    ['xn--zz'],
    ['[1.2.3.4]'],
    ['[example.com]'],
    ['[fe80::1%eth0]'],
    ['fe80::1%eth0'],
    ['[::1'],
  ])('%j is refused', (text) => {
    const result = normaliseHostname(text);
    expect(result).toHaveProperty('error');
    expect('error' in result && result.error.length > 0).toBe(true);
  });

  it('explains why a name is refused', () => {
    expect(normaliseHostname('a..b')).toEqual({ error: '"a..b" has an empty label' });
    expect(normaliseHostname('ex ample.com')).toEqual({
      error: '"ex ample.com" contains " ", which is not allowed in a host name',
    });
  });

  it('refuses very long input with a length error', () => {
    expect(normaliseHostname('a'.repeat(100_000))).toEqual({
      error: 'the host name is 100000 characters long; the limit is 253',
    });
  });

  it('accepts a name of exactly 253 characters', () => {
    const name = `${'a.'.repeat(126)}a`;
    expect(name).toHaveLength(253);
    expect(normaliseHostname(name)).toEqual({ host: name });
  });
});

describe('isSubdomainOf', () => {
  it.each([
    ['api.github.com', 'github.com', true],
    ['a.b.github.com', 'github.com', true],
    ['github.com', 'github.com', false],
    ['evilgithub.com', 'github.com', false],
    ['github.com.evil.net', 'github.com', false],
    ['com', 'github.com', false],
  ])('%s of %s: %s', (host, domain, expected) => {
    expect(isSubdomainOf(host, domain)).toBe(expected);
  });
});

describe('properties', () => {
  const anyHostText = fc.oneof(
    fc.domain(),
    fc.ipV4(),
    fc.ipV4Extended(),
    fc.ipV6().map((text) => `[${text}]`),
    fc.string({ unit: 'binary', maxLength: 40 }),
    fc.string({ unit: fc.constantFrom(...'aAbZ09x-_.．。ü例'.split('')), maxLength: 30 }),
  );

  it('is idempotent', () => {
    fc.assert(
      fc.property(anyHostText, (text) => {
        const once = normaliseHostname(text);
        if ('host' in once) expect(normaliseHostname(once.host)).toEqual(once);
        if ('ip' in once) expect(view(normaliseHostname(formatAddress(once.ip)))).toEqual(view(once));
      }),
      { numRuns: 2000 },
    );
  });

  it('ignores ASCII case and one trailing dot', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.domain(), fc.ipV4(), fc.ipV4Extended()),
        fc.array(fc.boolean(), { minLength: 1, maxLength: 16 }),
        fc.boolean(),
        (text, caseMask, trailingDot) => {
          const variant = flipAsciiCase(text, caseMask) + (trailingDot ? '.' : '');
          const expected = view(normaliseHostname(text));
          expect(expected).not.toEqual({ error: true });
          expect(view(normaliseHostname(variant))).toEqual(expected);
        },
      ),
    );
  });

  it('never throws, whatever the input', () => {
    fc.assert(
      fc.property(anyHostText, (text) => {
        normaliseHostname(text);
      }),
      { numRuns: 3000 },
    );
  });
});
