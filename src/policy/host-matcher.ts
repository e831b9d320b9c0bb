/**
 * Host-pattern lookup for one rule list without scanning it.
 *
 * Patterns (already normalised by config loading): "github.com" exact, "*.github.com" any subdomain but
 * not the apex, "*" any host name. A lookup costs one `Map` get for the exact name, then one per parent
 * domain of the host ("a.b.github.com" → "b.github.com" → "github.com" → "com"), then the "*" rules.
 * The parent domains are cut once per decision (`hostKeys`) and shared by every list asked.
 *
 * The matcher holds the rules of every list of an agent and answers for all lists in one walk: for each
 * list, the most specific rule wins (exact, then the longest wildcard suffix, then "*"), and among equally
 * specific rules the first written; only rules whose ports cover the port count.
 */
import { parseIpLiteral } from '../net/address.js';
import { addToBucket, PerList, takeRulesCovering } from './rule-buckets.js';
import type { Rule } from './types.js';

export const ANY_HOST = '*';
const WILDCARD_PREFIX = '*.';

/** Why a host pattern cannot be compiled, or undefined when it is usable. */
export function hostPatternProblem(pattern: string): string | undefined {
  if (pattern === ANY_HOST) return undefined;
  const name = pattern.startsWith(WILDCARD_PREFIX) ? pattern.slice(WILDCARD_PREFIX.length) : pattern;
  if (name === '') return `host pattern "${pattern}" names no domain`;
  if (name.includes('*')) return `host pattern "${pattern}" may only use "*" as its whole first label`;
  if (!isHostName(name)) return `host pattern "${pattern}" is an IP address, not a host name (use cidr)`;
  return undefined;
}

/**
 * False for IP literals written as a host ("10.0.0.1", "2130706433", "[::1]"): the caller should pass
 * those as addresses, but if one arrives as text it must not match "*" (patterns name hosts only).
 */
export function isHostName(host: string): boolean {
  return host !== '' && parseIpLiteral(host) === undefined;
}

/** A host name and its parent domains, the keys every host lookup of one decision uses. */
export interface HostKeys {
  name: string;
  /** "a.b.github.com" → ["b.github.com", "github.com", "com"]: longest (most specific) first. */
  parentDomains: string[];
}

/** Keys for a requested host; undefined when there is no name to match (none, or an IP literal). */
export function hostKeys(host: string | undefined): HostKeys | undefined {
  if (host === undefined || !isHostName(host)) return undefined;
  const parentDomains: string[] = [];
  for (let dot = host.indexOf('.'); dot !== -1; dot = host.indexOf('.', dot + 1)) {
    parentDomains.push(host.slice(dot + 1));
  }
  return { name: host, parentDomains };
}

export class HostMatcher {
  private readonly exact = new Map<string, Rule[]>();
  /** Keyed by the suffix after "*.": "*.github.com" lives under "github.com". */
  private readonly subdomainsOf = new Map<string, Rule[]>();
  private readonly anyHost: Rule[] = [];

  /** `rules` in file order, of any list; each must have a `host` pattern that passed `hostPatternProblem`. */
  constructor(rules: readonly Rule[]) {
    for (const rule of rules) {
      const pattern = rule.host;
      if (pattern === undefined) continue;
      if (pattern === ANY_HOST) this.anyHost.push(rule);
      else if (pattern.startsWith(WILDCARD_PREFIX)) addToBucket(this.subdomainsOf, pattern.slice(WILDCARD_PREFIX.length), rule);
      else addToBucket(this.exact, pattern, rule);
    }
  }

  /** The most specific rule of each list that matches the host on `port`. */
  match(host: HostKeys, port: number): PerList<Rule> {
    const found = new PerList<Rule>();
    takeRulesCovering(this.exact.get(host.name), port, found);
    if (this.subdomainsOf.size > 0) {
      for (const parent of host.parentDomains) takeRulesCovering(this.subdomainsOf.get(parent), port, found);
    }
    takeRulesCovering(this.anyHost, port, found);
    return found;
  }
}
