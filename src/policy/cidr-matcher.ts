/**
 * CIDR lookup for all the lists of an agent (or the global deny list) without scanning them (see
 * prefix-tables.ts). For each list, the first hit is the most specific rule: longest prefix, then first
 * written among the rules of that network that cover the port.
 */
import type { AddressBits } from './address-bits.js';
import { portsCover } from './ports.js';
import { PrefixTables } from './prefix-tables.js';
import { PerList } from './rule-buckets.js';
import type { Rule } from './types.js';

/** A rule with its network parsed (prefix within the family's width), in the space addresses are judged in. */
export interface CidrRule {
  rule: Rule;
  network: AddressBits;
  prefix: number;
}

export class CidrMatcher {
  private readonly tables: PrefixTables<CidrRule>;

  /** `entries` in file order, of any list. */
  constructor(entries: readonly CidrRule[]) {
    const filed = entries.map((entry) => ({ network: entry.network, prefix: entry.prefix, value: entry }));
    this.tables = new PrefixTables(filed);
  }

  /** The most specific rule of each list whose network contains `address` and that covers `port`. */
  match(address: AddressBits, port: number): PerList<CidrRule> {
    const found = new PerList<CidrRule>();
    this.tables.visit(address, (bucket) => {
      for (const entry of bucket) {
        if (portsCover(entry.rule.ports, port)) found.offer(entry.rule, entry);
      }
      return found.complete();
    });
    return found;
  }
}
