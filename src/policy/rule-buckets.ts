/**
 * The matchers file rules into buckets (a `Map` key → rules in file order) and, for one flow, take from
 * each bucket they reach the first rule of every list (deny, alert, allow) that covers the flow's port.
 * One walk over an agent's tables thus answers all three lists at once.
 */
import { portsCover } from './ports.js';
import type { Rule } from './types.js';

/**
 * What a walk found for each list; a list stays undefined when nothing of it matched. A class with
 * fixed fields rather than a record keyed by list name: this is on the per-decision hot path.
 */
export class PerList<T> {
  deny: T | undefined = undefined;
  alert: T | undefined = undefined;
  allow: T | undefined = undefined;

  /** Files `item` under its rule's list, unless that list already has its (more specific) match. */
  offer(rule: Rule, item: T): void {
    if (rule.list === 'deny') this.deny ??= item;
    else if (rule.list === 'alert') this.alert ??= item;
    else this.allow ??= item;
  }

  /** True once every list has its match: a walk can stop early. */
  complete(): boolean {
    return this.deny !== undefined && this.alert !== undefined && this.allow !== undefined;
  }
}

export function addToBucket<K, T>(buckets: Map<K, T[]>, key: K, item: T): void {
  const bucket = buckets.get(key);
  if (bucket === undefined) buckets.set(key, [item]);
  else bucket.push(item);
}

/**
 * Offers to `found` every rule of `bucket` (file order) that covers `port`. Buckets are visited most
 * specific first, so what each list gets first is its most specific match.
 */
export function takeRulesCovering(bucket: readonly Rule[] | undefined, port: number, found: PerList<Rule>): void {
  if (bucket === undefined) return;
  for (const rule of bucket) {
    if (portsCover(rule.ports, port)) found.offer(rule, rule);
  }
}
