import ipaddr from 'ipaddr.js';
import { describe, expect, it } from 'vitest';
import { addressBits, type AddressBits } from '../../../src/policy/address-bits.js';
import { PrefixTables } from '../../../src/policy/prefix-tables.js';

const bits = (text: string) => addressBits(ipaddr.parse(text));
/** The first value of the longest-prefix bucket holding `address`. */
function longest(tables: PrefixTables<string>, address: AddressBits): string | undefined {
  return tables.visit(address, undefined, () => true)?.[0];
}

/** Tables holding one network, `text/prefix`, whose value is its own text. */
function single(network: string, prefix: number): PrefixTables<string> {
  return new PrefixTables([{ network: bits(network), prefix, value: `${network}/${prefix}` }]);
}

describe('PrefixTables', () => {
  it('finds an IPv6 address under its network at every prefix length, and not under its neighbour', () => {
    const address = '2001:db8:abcd:ef01:2345:6789:abcd:ef01';
    for (let prefix = 0; prefix <= 128; prefix++) {
      const network = ipaddr.IPv6.networkAddressFromCIDR(`${address}/${prefix}`).toString();
      expect(longest(single(network, prefix), bits(address)), `/${prefix}`).toBe(`${network}/${prefix}`);
      if (prefix === 0) continue;
      // Flip the last bit inside the prefix: that address lies in the neighbouring network.
      const bytes = ipaddr.parse(address).toByteArray();
      const bit = prefix - 1;
      bytes[bit >> 3] = (bytes[bit >> 3] ?? 0) ^ (0x80 >> (bit & 7));
      const neighbour = addressBits(ipaddr.fromByteArray(bytes));
      expect(longest(single(network, prefix), neighbour), `neighbour /${prefix}`).toBeUndefined();
    }
  });

  it('finds an IPv4 address under its network at every prefix length, and not under its neighbour', () => {
    for (let prefix = 0; prefix <= 32; prefix++) {
      const network = ipaddr.IPv4.networkAddressFromCIDR(`203.0.113.77/${prefix}`).toString();
      expect(longest(single(network, prefix), bits('203.0.113.77')), `/${prefix}`).toBe(`${network}/${prefix}`);
    }
    expect(longest(single('10.0.0.0', 31), bits('10.0.0.1'))).toBe('10.0.0.0/31');
    expect(longest(single('10.0.0.0', 31), bits('10.0.0.2'))).toBeUndefined();
  });

  it('visits every bucket holding the address, longest prefix first, until told to stop', () => {
    const tables = new PrefixTables([
      { network: bits('10.0.0.0'), prefix: 8, value: 'eight' },
      { network: bits('10.1.0.0'), prefix: 16, value: 'sixteen' },
      { network: bits('10.1.2.0'), prefix: 24, value: 'twenty-four' },
      { network: bits('10.9.0.0'), prefix: 16, value: 'elsewhere' },
    ]);
    const record = (bucket: readonly string[], seen: string[]) => {
      seen.push(...bucket);
      return false;
    };
    const seen: string[] = [];
    expect(tables.visit(bits('10.1.2.3'), seen, record)).toBeUndefined();
    expect(seen).toEqual(['twenty-four', 'sixteen', 'eight']);
    const untilSixteen: string[] = [];
    const stopped = tables.visit(bits('10.1.2.3'), untilSixteen, (bucket, seenSoFar) => {
      seenSoFar.push(...bucket);
      return bucket.includes('sixteen');
    });
    expect(untilSixteen).toEqual(['twenty-four', 'sixteen']);
    expect(stopped).toEqual(['sixteen']);
  });

  it('keeps the families apart', () => {
    const tables = new PrefixTables([{ network: bits('::'), prefix: 0, value: 'all IPv6' }]);
    expect(longest(tables, bits('10.0.0.1'))).toBeUndefined();
    expect(longest(tables, bits('::ffff:10.0.0.1'))).toBe('all IPv6');
  });
});
