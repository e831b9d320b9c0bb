/**
 * Small readers for parsed JSON of unknown shape. Mining messages come from hostile peers, so every
 * accessor checks types instead of trusting a schema, and none of them recurses.
 */

export type JsonObject = Record<string, unknown>;

export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Reads `key` from `obj`: the exact key first, then a case-insensitive match. Pools compare keys
 * case-sensitively, so `"Method"` would not work against a real pool, but the fallback costs little
 * and catches lenient pools (protocol-notes §1.3.7). Only own properties count: JSON.parse never
 * produces inherited keys, and `constructor` must not resolve to Object's.
 */
export function field(obj: JsonObject, key: string): unknown {
  if (Object.hasOwn(obj, key)) return obj[key];
  const wanted = key.toLowerCase();
  for (const candidate of Object.keys(obj)) {
    if (candidate.toLowerCase() === wanted) return obj[candidate];
  }
  return undefined;
}

export function stringField(obj: JsonObject, key: string): string | undefined {
  const value = field(obj, key);
  return typeof value === 'string' ? value : undefined;
}

export function objectField(obj: JsonObject, key: string): JsonObject | undefined {
  const value = field(obj, key);
  return isJsonObject(value) ? value : undefined;
}

export function arrayField(obj: JsonObject, key: string): unknown[] | undefined {
  const value = field(obj, key);
  return Array.isArray(value) ? value : undefined;
}

const HEX = /^[0-9a-fA-F]+$/;

/** A hex string (optional `0x` prefix) whose digit count lies in [minDigits, maxDigits]. */
export function isHex(value: unknown, minDigits: number, maxDigits = Number.MAX_SAFE_INTEGER): boolean {
  if (typeof value !== 'string') return false;
  const digits = value.startsWith('0x') || value.startsWith('0X') ? value.slice(2) : value;
  return digits.length >= minDigits && digits.length <= maxDigits && HEX.test(digits);
}
