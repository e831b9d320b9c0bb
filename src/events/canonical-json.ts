/**
 * Canonical JSON for hashing (the rules of RFC 8785 JCS that matter for event records): object keys
 * sorted by UTF-16 code units, no whitespace, `undefined` members left out, strings and numbers as
 * JSON.stringify writes them (which is what JCS specifies for both). The same text comes out whatever
 * order a writer or a SIEM put the keys in, so a hash computed by the proxy can be checked on any copy.
 *
 * It runs once per event on the bus, so it avoids the costs that dominated a plain recursive version
 * (bench/event-chain.ts): strings that need no escaping are quoted without a call into JSON.stringify,
 * and quoted keys are remembered.
 */

/** Printable ASCII without `"` and `\`: JSON.stringify would write these characters unchanged. */
const NEEDS_NO_ESCAPE = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

/** `"key":` per key seen; bounded, because label and detail keys come from clients. */
const quotedKeys = new Map<string, string>();
const MAX_QUOTED_KEYS = 10_000;

export function canonicalJson(value: unknown): string {
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
