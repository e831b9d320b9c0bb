/**
 * Longest-prefix lookup without scanning: values are filed per address family and per prefix length,
 * under the network's words (see address-bits.ts) in a small tree of `Map`s, one level per 32-bit word
 * of the prefix (one level for IPv4, up to four for IPv6). A lookup walks only the prefix lengths in
 * use, longest first: at each, at most four `Map` gets reach the bucket of the address's network.
 */
import { prefixWordKey, wordsInPrefix, type AddressBits } from './address-bits.js';

export interface PrefixEntry<T> {
  network: AddressBits;
  /** Within the family's width (0..32 or 0..128). */
  prefix: number;
  value: T;
}

/**
 * Called with each bucket holding the address, longest prefix first; returns true to stop the walk.
 * The walk passes `context` through so that callers need no per-lookup closure.
 */
export type BucketVisitor<T, C> = (bucket: readonly T[], context: C) => boolean;

interface Node<T> {
  children: Map<number, Node<T>>;
  /** Values filed under this network, in insertion order; only filled at the prefix's last level. */
  values: T[];
}

interface PrefixTable<T> {
  prefix: number;
  levels: number;
  root: Node<T>;
}

export class PrefixTables<T> {
  private readonly v4: PrefixTable<T>[];
  private readonly v6: PrefixTable<T>[];

  constructor(entries: readonly PrefixEntry<T>[]) {
    this.v4 = buildTables(entries.filter((entry) => entry.network.family === 4));
    this.v6 = buildTables(entries.filter((entry) => entry.network.family === 6));
  }

  /**
   * Visits the buckets of the networks that hold `address`, longest prefix first; returns the bucket
   * at which `visitor` stopped the walk, if it did.
   */
  visit<C>(address: AddressBits, context: C, visitor: BucketVisitor<T, C>): readonly T[] | undefined {
    const tables = address.family === 4 ? this.v4 : this.v6;
    for (const table of tables) {
      let node: Node<T> | undefined = table.root;
      for (let level = 0; node !== undefined && level < table.levels; level++) {
        node = node.children.get(prefixWordKey(address, level, table.prefix));
      }
      if (node !== undefined && visitor(node.values, context)) return node.values;
    }
    return undefined;
  }
}

function buildTables<T>(entries: readonly PrefixEntry<T>[]): PrefixTable<T>[] {
  const byPrefix = new Map<number, PrefixTable<T>>();
  for (const { network, prefix, value } of entries) {
    let table = byPrefix.get(prefix);
    if (table === undefined) {
      table = { prefix, levels: wordsInPrefix(prefix), root: emptyNode() };
      byPrefix.set(prefix, table);
    }
    let node = table.root;
    for (let level = 0; level < table.levels; level++) {
      const key = prefixWordKey(network, level, prefix);
      let child = node.children.get(key);
      if (child === undefined) {
        child = emptyNode();
        node.children.set(key, child);
      }
      node = child;
    }
    node.values.push(value);
  }
  return [...byPrefix.values()].sort((a, b) => b.prefix - a.prefix);
}

function emptyNode<T>(): Node<T> {
  return { children: new Map(), values: [] };
}
