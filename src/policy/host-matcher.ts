/**
 * Host-pattern lookup without scanning, for all the rules of an agent (or the global deny list).
 *
 * Patterns (already normalised by config loading): "github.com" exact, "*.github.com" any subdomain but
 * not the apex, "*" any host name. A lookup costs one `Map` get for the exact name, then one per parent
 * domain of the host that could hold a wildcard ("a.b.github.com" → "b.github.com" → "github.com" →
 * "com", skipping label counts no wildcard pattern has), then the "*" rules.
 *
 * The matcher holds the rules of every list of an agent and answers for all lists in one walk: for each
 * list, the most specific rule wins (exact, then the longest wildcard suffix, then "*"), and among equally
 * specific rules the first written; only rules whose ports cover the port count.
 */
import { isHostName, type HostKeys } from './host-keys.js';
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

export class HostMatcher {
  private readonly exact = new Map<string, Rule[]>();
  /** Keyed by the suffix after "*.": "*.github.com" lives under "github.com". */
  private readonly subdomainsOf = new Map<string, Rule[]>();
  /** Label counts of the wildcard suffixes ("github.com": 2), most labels (most specific) first. */
  private readonly wildcardLabelCounts: number[];
  private readonly anyHost: Rule[] = [];

  /** `rules` in file order, of any list; each must have a `host` pattern that passed `hostPatternProblem`. */
  constructor(rules: readonly Rule[]) {
    for (const rule of rules) {
      const pattern = rule.host;
      if (pattern === undefined) continue;
      if (pattern === ANY_HOST) this.anyHost.push(rule);
      else if (!pattern.startsWith(WILDCARD_PREFIX)) addToBucket(this.exact, pattern, rule);
      else addToBucket(this.subdomainsOf, pattern.slice(WILDCARD_PREFIX.length), rule);
    }
    const labelCounts = new Set([...this.subdomainsOf.keys()].map((suffix) => suffix.split('.').length));
    this.wildcardLabelCounts = [...labelCounts].sort((a, b) => b - a);
  }

  /** The most specific rule of each list that matches the host on `port`. */
  match(host: HostKeys, port: number): PerList<Rule> {
    const found = new PerList<Rule>();
    takeRulesCovering(this.exact.get(host.name), port, found);
    for (const labels of this.wildcardLabelCounts) {
      const parent = host.parentWithLabels(labels);
      if (parent !== undefined) takeRulesCovering(this.subdomainsOf.get(parent), port, found);
    }
    takeRulesCovering(this.anyHost, port, found);
    return found;
  }
}
