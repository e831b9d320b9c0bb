/**
 * Port lists as written in rules: `[443]`, `["5432", "8000-8100"]`, `"*"` (any port) or `["*"]`.
 * Parsing never throws; every bad element is reported with its index so the error can name its line.
 */
import type { PortRange } from '../policy/types.js';
import { quoteValue } from './errors.js';

const MIN_PORT = 1;
const MAX_PORT = 65535;
export const ANY_PORT: Readonly<PortRange> = { from: MIN_PORT, to: MAX_PORT };

export interface PortListError {
  /** Index of the offending element; undefined when the list as a whole is wrong. */
  index?: number;
  message: string;
}

export type PortListResult = { ok: true; ranges: PortRange[] } | { ok: false; errors: PortListError[] };
export type PortSpecResult = { ok: true; range: PortRange } | { ok: false; message: string };

/**
 * Parses a whole `ports:` value. A single element without brackets (`ports: 443`) is accepted as a list of
 * one. The ranges come back sorted with overlapping and touching ranges merged, so that equal port sets
 * have equal representations.
 */
export function parsePortList(value: unknown): PortListResult {
  if (!Array.isArray(value)) {
    const single = parsePortSpec(value);
    return single.ok ? { ok: true, ranges: [single.range] } : { ok: false, errors: [{ message: single.message }] };
  }
  if (value.length === 0) {
    return { ok: false, errors: [{ message: 'lists no ports; write "*" for any port' }] };
  }
  const ranges: PortRange[] = [];
  const errors: PortListError[] = [];
  value.forEach((element: unknown, index) => {
    const parsed = parsePortSpec(element);
    if (parsed.ok) ranges.push(parsed.range);
    else errors.push({ index, message: parsed.message });
  });
  return errors.length > 0 ? { ok: false, errors } : { ok: true, ranges: normalisePortRanges(ranges) };
}

/** Parses one element: a number, "N", "N-M" or "*". */
export function parsePortSpec(value: unknown): PortSpecResult {
  if (typeof value === 'number') {
    return isPort(value) ? { ok: true, range: { from: value, to: value } } : notAPort(String(value));
  }
  if (typeof value !== 'string') {
    return { ok: false, message: `expected a port number, "N-M" or "*", got ${describeType(value)}` };
  }
  const text = value.trim();
  if (text === '*') return { ok: true, range: { ...ANY_PORT } };

  // At most five digits per bound keeps Number() exact and makes "99999999999" a plain range error.
  const single = /^(\d{1,5})$/.exec(text);
  if (single) {
    const port = Number(single[1]);
    return isPort(port) ? { ok: true, range: { from: port, to: port } } : notAPort(quoteValue(value));
  }
  const range = /^(\d{1,5})-(\d{1,5})$/.exec(text);
  if (range) {
    const from = Number(range[1]);
    const to = Number(range[2]);
    if (!isPort(from) || !isPort(to)) {
      return { ok: false, message: `${quoteValue(value)} is not a port range (${MIN_PORT}-${MAX_PORT})` };
    }
    if (from > to) {
      return { ok: false, message: `${quoteValue(value)} is not a port range: ${from} is above ${to}` };
    }
    return { ok: true, range: { from, to } };
  }
  return { ok: false, message: `${quoteValue(value)} is not a port, a range "N-M" or "*"` };
}

/** Sorts ranges and merges those that overlap or touch (80-90 and 91-100 become 80-100). */
export function normalisePortRanges(ranges: readonly PortRange[]): PortRange[] {
  const sorted = [...ranges].sort((a, b) => a.from - b.from || a.to - b.to);
  const merged: PortRange[] = [];
  for (const range of sorted) {
    const last = merged[merged.length - 1];
    if (last !== undefined && range.from <= last.to + 1) last.to = Math.max(last.to, range.to);
    else merged.push({ from: range.from, to: range.to });
  }
  return merged;
}

/** Writes ranges back in rule syntax: "443", "8000-8100", or "*" for the whole port space. */
export function formatPortRanges(ranges: readonly PortRange[]): string[] {
  return ranges.map((range) => {
    if (range.from === MIN_PORT && range.to === MAX_PORT) return '*';
    return range.from === range.to ? String(range.from) : `${range.from}-${range.to}`;
  });
}

function isPort(value: number): boolean {
  return Number.isInteger(value) && value >= MIN_PORT && value <= MAX_PORT;
}

function notAPort(shown: string): PortSpecResult {
  return { ok: false, message: `${shown} is not a port (${MIN_PORT}-${MAX_PORT})` };
}

function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  return typeof value === 'object' ? 'a mapping' : `a ${typeof value}`;
}
