/**
 * Canonical JSON for hashing (the rules of RFC 8785 JCS that matter for event records): object keys
 * sorted by UTF-16 code units, no whitespace, `undefined` members left out, strings and numbers as
 * JSON.stringify writes them (which is what JCS specifies for both). The same text comes out whatever
 * order a writer or a SIEM put the keys in, so a hash computed by the proxy can be checked on any copy.
 *
 * It runs once per event on the bus. The bus builds its events with sorted keys, so the usual case is
 * a check (alreadyCanonical) and one JSON.stringify; anything else goes through the sorting serialiser,
 * which avoids the costs that dominated a plain recursive version (bench/event-chain.ts): strings that
 * need no escaping are quoted without a call into JSON.stringify, and quoted keys are remembered.
 */

/** Printable ASCII without `"` and `\`: JSON.stringify would write these characters unchanged. */
const NEEDS_NO_ESCAPE = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

/** `"key":` per key seen; bounded, because label and detail keys come from clients. */
const quotedKeys = new Map<string, string>();
const MAX_QUOTED_KEYS = 10_000;

export function canonicalJson(value: unknown): string {
  // JSON.stringify writes exactly the canonical text when every object's keys are already in order.
  if (value !== undefined && alreadyCanonical(value)) return JSON.stringify(value);
  return sortedJson(value);
}

/**
 * Whether JSON.stringify of `value` is its canonical JSON: every object a plain one (no toJSON, no
 * Map/Date, whose JSON.stringify form differs from their members) with its keys strictly in sorted
 * order (this also rejects integer-like keys out of order, which JavaScript lists first), and no
 * value whose two serialisations could differ (functions, symbols, bigints). The bus shapes its events
 * with sorted keys, so for them this walk — no strings built — replaces the sorting serialiser.
 */
function alreadyCanonical(value: unknown): boolean {
  if (value === null) return true;
  const type = typeof value;
  if (type === 'string' || type === 'number' || type === 'boolean' || type === 'undefined') return true;
  if (type !== 'object') return false;
  if (Array.isArray(value)) {
    if (Object.getPrototypeOf(value) !== Array.prototype || Object.hasOwn(value, 'toJSON')) return false;
    for (let index = 0; index < value.length; index++) {
      const item: unknown = value[index];
      if (item === undefined || !alreadyCanonical(item)) return false;
    }
    return true;
  }
  const prototype: unknown = Object.getPrototypeOf(value);
  if (prototype !== Object.prototype && prototype !== null) return false;
  const record = value as Record<string, unknown>;
  let previous: string | undefined;
  for (const key in record) {
    if (!Object.hasOwn(record, key)) return false;
    if (previous !== undefined && !(previous < key)) return false;
    previous = key;
    if (!alreadyCanonical(record[key])) return false;
  }
  return true;
}

/** The sorting serialiser; every member goes back through canonicalJson, so sorted subtrees still take the fast path. */
function sortedJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return primitive(value);
  if (Array.isArray(value)) {
    let out = '[';
    for (let index = 0; index < value.length; index++) {
      if (index > 0) out += ',';
      const item: unknown = value[index];
      // As JSON.stringify does: holes and undefined in arrays become null.
      out += item === undefined ? 'null' : canonicalJson(item);
    }
    return `${out}]`;
  }
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record).sort();
  let out = '{';
  let first = true;
  for (const key of keys) {
    const member = record[key];
    if (member === undefined || typeof member === 'function') continue;
    out += (first ? '' : ',') + quotedKey(key) + canonicalJson(member);
    first = false;
  }
  return `${out}}`;
}

function quotedKey(key: string): string {
  let quoted = quotedKeys.get(key);
  if (quoted === undefined) {
    quoted = `${JSON.stringify(key)}:`;
    if (quotedKeys.size < MAX_QUOTED_KEYS) quotedKeys.set(key, quoted);
  }
  return quoted;
}

function primitive(value: unknown): string {
  if (typeof value === 'string') return NEEDS_NO_ESCAPE.test(value) ? `"${value}"` : JSON.stringify(value);
  if (typeof value === 'number') return Number.isFinite(value) ? JSON.stringify(value) : 'null';
  if (typeof value === 'bigint') throw new TypeError('canonicalJson: bigint has no JSON form');
  return JSON.stringify(value) ?? 'null';
}
