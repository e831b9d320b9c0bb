/**
 * CIDR lookup for all the rules of an agent (its own and the global denies) without scanning them
 * (see prefix-tables.ts). For each slot, the first hit is the most specific rule: longest prefix, then
 * first written among the rules of that network that cover the port.
 */
import type { AddressBits } from './address-bits.js';
import { PrefixTables } from './prefix-tables.js';
import { Matches, type SlottedRule } from './rule-buckets.js';

/** A rule with its network parsed (prefix within the family's width), in the space addresses are judged in. */
export interface CidrRule extends SlottedRule {
  network: AddressBits;
  prefix: number;
}

export class CidrMatcher {
  private readonly tables: PrefixTables<CidrRule>;

  /** `entries` in file order. */
  constructor(entries: readonly CidrRule[]) {
    const filed = entries.map((entry) => ({ network: entry.network, prefix: entry.prefix, value: entry }));
    this.tables = new PrefixTables(filed);
  }

  /** The most specific rule of each slot whose network contains `address` and that covers `port`. */
  match(address: AddressBits, port: number): Matches<CidrRule> {
    const found = new Matches<CidrRule>(port);
    this.tables.visit(address, found, takeBucket);
    return found;
  }
}

function takeBucket(bucket: readonly CidrRule[], found: Matches<CidrRule>): boolean {
  found.takeCovering(bucket);
  return found.complete();
}
