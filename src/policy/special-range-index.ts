/**
 * SSRF vetting asks, for every address of every flow, which special range it is in. net/special-ranges.ts
 * owns the table and answers with a scan (`specialRangeOf`, about 1 µs for IPv6); this files the same
 * table in prefix tables so that the answer costs a few `Map` gets. Same answer, by construction: the
 * most specific block wins, and among equal blocks the first in SPECIAL_RANGES (tested against
 * `specialRangeOf` in test/unit/policy/special-range-index.test.ts).
 */
import { SPECIAL_RANGES, type SpecialRange } from '../net/special-ranges.js';
import { addressBits, type AddressBits } from './address-bits.js';
import { PrefixTables } from './prefix-tables.js';

const SPECIAL_RANGE_TABLES = new PrefixTables(
  SPECIAL_RANGES.map((range) => ({ network: addressBits(range.network), prefix: range.prefix, value: range })),
);

/** The special range of an address that is already in judged form (see flow-addresses.ts). */
export function specialRangeOfJudged(judged: AddressBits): SpecialRange | undefined {
  return SPECIAL_RANGE_TABLES.visit(judged, undefined, stopAtFirstBucket)?.[0];
}

function stopAtFirstBucket(): boolean {
  return true;
}
