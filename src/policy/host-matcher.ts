/**
 * Host-pattern lookup without scanning, for all the rules of an agent (its own and the global denies).
 *
 * Patterns (already normalised by config loading): "github.com" exact, "*.github.com" any subdomain but
 * not the apex, "*" any host name. A lookup costs one `Map` get for the exact name, then one per parent
 * domain of the host that could hold a wildcard ("a.b.github.com" → "b.github.com" → "github.com" →
 * "com", skipping label counts no wildcard pattern has), then the "*" rules.
 *
 * One walk answers for every slot (see rule-buckets.ts): for each, the most specific rule wins (exact,
 * then the longest wildcard suffix, then "*"), and among equally specific rules the first written; only
 * rules whose ports cover the port count.
 */
import { isHostName, type HostKeys } from './host-keys.js';
import { addToBucket, Matches, type SlottedRule } from './rule-buckets.js';

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
  private readonly exact = new Map<string, SlottedRule[]>();
  /** Keyed by the suffix after "*.": "*.github.com" lives under "github.com". */
  private readonly subdomainsOf = new Map<string, SlottedRule[]>();
  /** Label counts of the wildcard suffixes ("github.com": 2), most labels (most specific) first. */
  private readonly wildcardLabelCounts: number[];
  private readonly anyHost: SlottedRule[] = [];

  /** `entries` in file order; each rule must have a `host` pattern that passed `hostPatternProblem`. */
  constructor(entries: readonly SlottedRule[]) {
    for (const entry of entries) {
      const pattern = entry.rule.host;
      if (pattern === undefined) continue;
      if (pattern === ANY_HOST) this.anyHost.push(entry);
      else if (!pattern.startsWith(WILDCARD_PREFIX)) addToBucket(this.exact, pattern, entry);
      else addToBucket(this.subdomainsOf, pattern.slice(WILDCARD_PREFIX.length), entry);
    }
    const labelCounts = new Set([...this.subdomainsOf.keys()].map((suffix) => suffix.split('.').length));
    this.wildcardLabelCounts = [...labelCounts].sort((a, b) => b - a);
  }

  /** The most specific rule of each slot that matches the host on `port`. */
  match(host: HostKeys, port: number): Matches<SlottedRule> {
    const found = new Matches<SlottedRule>(port);
    found.takeCovering(this.exact.get(host.name));
    for (const labels of this.wildcardLabelCounts) {
      const parent = host.parentWithLabels(labels);
      if (parent !== undefined) found.takeCovering(this.subdomainsOf.get(parent));
    }
    found.takeCovering(this.anyHost);
    return found;
  }

  /** Every rule whose pattern matches the host, whatever its ports (the DNS listener's port-free view). */
  rulesFor(host: HostKeys): SlottedRule[] {
    const found = [...(this.exact.get(host.name) ?? [])];
    for (const labels of this.wildcardLabelCounts) {
      const parent = host.parentWithLabels(labels);
      if (parent !== undefined) found.push(...(this.subdomainsOf.get(parent) ?? []));
    }
    found.push(...this.anyHost);
    return found;
  }
}
