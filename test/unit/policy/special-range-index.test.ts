import fc from 'fast-check';
import ipaddr from 'ipaddr.js';
import { describe, expect, it } from 'vitest';
import { addressForJudging, type IpAddress } from '../../../src/net/address.js';
import { SPECIAL_RANGES, specialRangeOf } from '../../../src/net/special-ranges.js';
import { addressBits } from '../../../src/policy/address-bits.js';
import { specialRangeOfJudged } from '../../../src/policy/special-range-index.js';

function indexed(address: IpAddress) {
  return specialRangeOfJudged(addressBits(addressForJudging(address)));
}

/** The first and last address of a block: where an off-by-one in masking would show. */
function edges(network: IpAddress, prefix: number): IpAddress[] {
  const bytes = network.toByteArray();
  const last = bytes.map((byte, i) => byte | (0xff >> Math.min(8, Math.max(0, prefix - i * 8))));
  return [network, ipaddr.fromByteArray(last)];
}

describe('specialRangeOfJudged', () => {
  it('agrees with specialRangeOf at both edges of every special block', () => {
    for (const range of SPECIAL_RANGES) {
      for (const address of edges(range.network, range.prefix)) {
        expect(indexed(address), `${address.toString()} (${range.cidr})`).toBe(specialRangeOf(address));
      }
    }
  });

  it('agrees with specialRangeOf on random IPv4 and IPv6 addresses', () => {
    fc.assert(
      fc.property(fc.oneof(fc.ipV4(), fc.ipV6()), (text) => {
        const address = ipaddr.parse(text);
        expect(indexed(address)).toBe(specialRangeOf(address));
      }),
      { numRuns: 2000 },
    );
  });

  it('names the most specific block: metadata inside link-local', () => {
    expect(indexed(ipaddr.parse('169.254.169.254'))?.name).toBe('metadata');
    expect(indexed(ipaddr.parse('169.254.1.1'))?.name).toBe('link-local');
    expect(indexed(ipaddr.parse('8.8.8.8'))).toBeUndefined();
  });
});
