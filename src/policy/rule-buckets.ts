/**
 * An agent's matchers hold every rule that can decide its flows: the global denies and the agent's own
 * deny, alert and allow rules, each tagged with the slot it decides in. They file rules into buckets
 * (a `Map` key → rules in file order) and, for one flow, take from each bucket they reach the first
 * rule of every slot that covers the flow's port. One walk thus answers every slot at once.
 */
import { portsCover } from './ports.js';
import type { Rule, RuleList } from './types.js';

/** Where a rule decides: `global` for RuleSet.globalDeny (before everything), else its list. */
export type Slot = 'global' | RuleList;

export interface SlottedRule {
  rule: Rule;
  slot: Slot;
}

/**
 * The most specific rule found for each slot; a slot stays undefined when nothing of it matched.
 * A class with fixed fields rather than a record keyed by slot: this is on the per-decision hot path.
 */
export class Matches<T extends SlottedRule> {
  global: T | undefined = undefined;
  deny: T | undefined = undefined;
  alert: T | undefined = undefined;
  allow: T | undefined = undefined;

  constructor(private readonly port: number) {}

  /**
   * Files each rule of `bucket` (file order) that covers the port under its slot, unless the slot is
   * already filled. Buckets are visited most specific first, so each slot keeps its most specific rule.
   */
  takeCovering(bucket: readonly T[] | undefined): void {
    if (bucket === undefined) return;
    for (const entry of bucket) {
      if (portsCover(entry.rule.ports, this.port)) this.offer(entry);
    }
  }

  /** True once every slot is filled: a walk can stop early. */
  complete(): boolean {
    return this.global !== undefined && this.deny !== undefined && this.alert !== undefined && this.allow !== undefined;
  }

  private offer(entry: T): void {
    switch (entry.slot) {
      case 'global':
        this.global ??= entry;
        break;
      case 'deny':
        this.deny ??= entry;
        break;
      case 'alert':
        this.alert ??= entry;
        break;
      case 'allow':
        this.allow ??= entry;
        break;
    }
  }
}

export function addToBucket<K, T>(buckets: Map<K, T[]>, key: K, item: T): void {
  const bucket = buckets.get(key);
  if (bucket === undefined) buckets.set(key, [item]);
  else bucket.push(item);
}
