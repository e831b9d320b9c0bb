import { describe, expect, it } from 'vitest';
import { HostKeys, hostKeys } from '../../../src/policy/host-keys.js';
import { HostMatcher, hostPatternProblem } from '../../../src/policy/host-matcher.js';
import type { Slot } from '../../../src/policy/rule-buckets.js';
import type { Rule } from '../../../src/policy/types.js';
import { rule } from './policy-fixtures.js';

/** A matcher over agent rules, each in the slot of its list. */
function matcherOf(...rules: Rule[]): HostMatcher {
  return new HostMatcher(rules.map((r) => ({ rule: r, slot: r.list })));
}

/** The rule of `slot` the matcher finds for `host`. */
function match(matcher: HostMatcher, host: string, port: number, slot: Slot = 'allow'): Rule | undefined {
  const keys = hostKeys(host);
  if (keys === undefined) throw new Error(`${host} is not a host name`);
  return matcher.match(keys, port)[slot]?.rule;
}

describe('HostMatcher', () => {
  const exact = rule('allow', 'github.com', '443');
  const subdomains = rule('allow', '*.github.com', '443');
  const deeper = rule('allow', '*.api.github.com', '443');
  const anyName = rule('allow', '*', '80');
  const matcher = matcherOf(anyName, subdomains, exact, deeper);

  it('matches an exact name', () => {
    expect(match(matcher, 'github.com', 443)).toBe(exact);
  });

  it('matches "*.github.com" for subdomains at any depth but not for the apex', () => {
    expect(match(matcher, 'raw.github.com', 443)).toBe(subdomains);
    expect(match(matcher, 'a.b.c.github.com', 443)).toBe(subdomains);
    expect(match(matcherOf(subdomains), 'github.com', 443)).toBeUndefined();
  });

  it('does not match a name that merely ends with the same characters', () => {
    expect(match(matcher, 'evilgithub.com', 443)).toBeUndefined();
    expect(match(matcher, 'github.com.evil.org', 443)).toBeUndefined();
  });

  it('prefers the longest wildcard suffix', () => {
    expect(match(matcher, 'v3.api.github.com', 443)).toBe(deeper);
    expect(match(matcher, 'api.github.com', 443)).toBe(subdomains);
  });

  it('matches "*" for any name, after every more specific pattern', () => {
    expect(match(matcher, 'example.org', 80)).toBe(anyName);
    expect(match(matcher, 'localhost', 80)).toBe(anyName);
  });

  it('only counts rules whose ports cover the port, falling back to less specific ones', () => {
    expect(match(matcher, 'github.com', 22)).toBeUndefined();
    expect(match(matcher, 'github.com', 80)).toBe(anyName);
  });

  it('picks the first written rule among equally specific ones that cover the port', () => {
    const first = rule('deny', 'example.com', '*');
    const second = rule('deny', 'example.com', '*');
    const onlyHttps = rule('deny', 'example.com', '443');
    const m = matcherOf(onlyHttps, first, second);
    expect(match(m, 'example.com', 443, 'deny')).toBe(onlyHttps);
    expect(match(m, 'example.com', 22, 'deny')).toBe(first);
  });

  it('answers for every slot in one lookup, each with its own most specific rule', () => {
    const globalDeny = rule('deny', 'api.example.com', '*');
    const denyAll = rule('deny', '*.example.com', '*');
    const allowApi = rule('allow', 'api.example.com', '443');
    const alertAny = rule('alert', '*', '443');
    const entries = [alertAny, allowApi, denyAll].map((r) => ({ rule: r, slot: r.list }));
    const matcher = new HostMatcher([{ rule: globalDeny, slot: 'global' }, ...entries]);
    const found = matcher.match(new HostKeys('api.example.com'), 443);
    const rules = [found.global, found.deny, found.alert, found.allow].map((entry) => entry?.rule);
    expect(rules).toEqual([globalDeny, denyAll, alertAny, allowApi]);
  });
});

describe('hostPatternProblem', () => {
  it('accepts exact, "*." and "*" patterns', () => {
    expect(hostPatternProblem('github.com')).toBeUndefined();
    expect(hostPatternProblem('*.github.com')).toBeUndefined();
    expect(hostPatternProblem('*')).toBeUndefined();
  });

  it('rejects stars elsewhere, empty suffixes and IP literals', () => {
    expect(hostPatternProblem('api.*.github.com')).toMatch(/first label/);
    expect(hostPatternProblem('*github.com')).toMatch(/first label/);
    expect(hostPatternProblem('*.')).toMatch(/names no domain/);
    expect(hostPatternProblem('10.0.0.1')).toMatch(/use cidr/);
  });
});
