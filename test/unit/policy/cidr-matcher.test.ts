import ipaddr from 'ipaddr.js';
import { describe, expect, it } from 'vitest';
import { addressBits } from '../../../src/policy/address-bits.js';
import { CidrMatcher, type CidrRule } from '../../../src/policy/cidr-matcher.js';
import type { Rule } from '../../../src/policy/types.js';
import { rule } from './policy-fixtures.js';

function entry(r: Rule): CidrRule {
  const [network, prefix] = ipaddr.parseCIDR(r.cidr ?? '');
  return { rule: r, slot: r.list, network: addressBits(network), prefix };
}

const bits = (text: string) => addressBits(ipaddr.parse(text));

describe('CidrMatcher', () => {
  const eight = rule('allow', '10.0.0.0/8', '443');
  const sixteen = rule('allow', '10.20.0.0/16', '443');
  const host = rule('allow', '10.20.30.40/32', '22');
  const everything = rule('allow', '0.0.0.0/0', '80');
  const v6 = rule('allow', '2001:db8::/32', '443');
  const v6Odd = rule('allow', '2001:db8:8000::/33', '443');
  const matcher = new CidrMatcher([eight, sixteen, host, everything, v6, v6Odd].map(entry));
  const allowed = (address: string, port: number) => matcher.match(bits(address), port).allow?.rule;

  it('returns the longest prefix that contains the address and covers the port', () => {
    expect(allowed('10.20.30.40', 443)).toBe(sixteen);
    expect(allowed('10.20.30.40', 22)).toBe(host);
    expect(allowed('10.99.0.1', 443)).toBe(eight);
    expect(allowed('192.0.2.1', 80)).toBe(everything);
    expect(allowed('192.0.2.1', 443)).toBeUndefined();
  });

  it('reports the prefix of the rule it found', () => {
    expect(matcher.match(bits('10.99.0.1'), 443).allow?.prefix).toBe(8);
  });

  it('matches IPv6 networks, including prefixes that end inside a word', () => {
    expect(allowed('2001:db8:8001::1', 443)).toBe(v6Odd);
    expect(allowed('2001:db8:7fff::1', 443)).toBe(v6);
    expect(allowed('2001:db9::1', 443)).toBeUndefined();
  });

  it('never matches across families', () => {
    expect(allowed('::a14:1e28', 22)).toBeUndefined();
    expect(new CidrMatcher([entry(rule('allow', '::/0', '80'))]).match(bits('10.0.0.1'), 80).allow).toBeUndefined();
  });

  it('answers for every list in one lookup, each with its own most specific rule', () => {
    const deny = rule('deny', '10.0.0.0/8', '*');
    const alert = rule('alert', '10.1.0.0/16', '443');
    const allow = rule('allow', '10.1.2.0/24', '443');
    const found = new CidrMatcher([deny, alert, allow].map(entry)).match(bits('10.1.2.3'), 443);
    expect([found.deny?.rule, found.alert?.rule, found.allow?.rule]).toEqual([deny, alert, allow]);
  });
});
