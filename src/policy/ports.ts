/**
 * Port-range helpers. A rule's ports are a short list of inclusive ranges; these helpers stay linear
 * because the lists they see are a handful of entries (one rule's ports, or the merged ports of a list).
 */
import type { PortRange } from './types.js';

export const ANY_PORT: PortRange = { from: 1, to: 65535 };

/** True when `port` lies in one of `ranges`. A non-integer port is covered by nothing. */
export function portsCover(ranges: readonly PortRange[], port: number): boolean {
  for (const range of ranges) {
    if (port >= range.from && port <= range.to) return true;
  }
  return false;
}

/**
 * Sorted, non-overlapping union of `ranges`, adjacent ranges joined (80-80 + 81-90 → 80-90).
 * Used to answer "could any rule of this list apply on this port?" without visiting every rule.
 */
export function mergePortRanges(ranges: readonly PortRange[]): PortRange[] {
  const sorted = [...ranges].sort((a, b) => a.from - b.from);
  const merged: PortRange[] = [];
  for (const range of sorted) {
    const last = merged[merged.length - 1];
    if (last !== undefined && range.from <= last.to + 1) {
      last.to = Math.max(last.to, range.to);
    } else {
      merged.push({ from: range.from, to: range.to });
    }
  }
  return merged;
}

/** "443", "80,443", "8000-8999", "*" for any port: short enough to sit in a denial hint. */
export function formatPorts(ranges: readonly PortRange[]): string {
  const merged = mergePortRanges(ranges);
  const only = merged[0];
  if (merged.length === 1 && only !== undefined && only.from <= ANY_PORT.from && only.to >= ANY_PORT.to) {
    return '*';
  }
  return merged.map((r) => (r.from === r.to ? String(r.from) : `${r.from}-${r.to}`)).join(',');
}

/** Problems with a rule's port list, for compile-time errors; empty when the list is usable. */
export function portRangeProblems(ranges: readonly PortRange[]): string[] {
  if (ranges.length === 0) return ['has no ports'];
  const problems: string[] = [];
  for (const r of ranges) {
    const valid = Number.isInteger(r.from) && Number.isInteger(r.to) && r.from >= 0 && r.to <= 65535 && r.from <= r.to;
    if (!valid) problems.push(`has an invalid port range ${r.from}-${r.to}`);
  }
  return problems;
}
