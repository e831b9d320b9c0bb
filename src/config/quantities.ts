/**
 * Human spellings of durations (`90s`, `10m`, `2h`, `1d`, or plain seconds) and byte sizes (`500MiB`,
 * `10MB`, `4096`), shared by the rules (budgets), the config and the CLI (`--for 2h`). Units are
 * explicit so that `500M` can never be read two ways: binary units are `KiB/MiB/GiB/TiB`, decimal
 * ones `KB/MB/GB/TB`.
 */

const DURATION_UNITS: Readonly<Record<string, number>> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86_400 };
const SIZE_UNITS: Readonly<Record<string, number>> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  kib: 2 ** 10,
  mib: 2 ** 20,
  gib: 2 ** 30,
  tib: 2 ** 40,
};

export type Parsed<T> = { ok: true; value: T } | { ok: false; message: string };

/** Seconds (may be fractional for `ms`); a bare number is seconds. */
export function parseDurationSeconds(value: unknown): Parsed<number> {
  if (typeof value === 'number') {
    return Number.isFinite(value) && value > 0 ? { ok: true, value } : { ok: false, message: `${value} is not a positive number of seconds` };
  }
  if (typeof value !== 'string') return { ok: false, message: 'expected a duration such as 90s, 10m, 2h or 1d' };
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/i.exec(value);
  const amount = match ? Number(match[1]) : Number.NaN;
  const unit = DURATION_UNITS[(match?.[2] ?? 's').toLowerCase()];
  if (!match || unit === undefined || !(amount > 0)) {
    return { ok: false, message: `"${value}" is not a duration (a positive number with ms, s, m, h or d, e.g. 10m)` };
  }
  return { ok: true, value: amount * unit };
}

/** Whole bytes; a bare number is bytes. */
export function parseByteSize(value: unknown): Parsed<number> {
  if (typeof value === 'number') {
    return Number.isSafeInteger(value) && value > 0 ? { ok: true, value } : { ok: false, message: `${value} is not a positive whole number of bytes` };
  }
  if (typeof value !== 'string') return { ok: false, message: 'expected a size such as 500MiB, 10MB or 4096' };
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]+)?\s*$/i.exec(value);
  const unit = SIZE_UNITS[(match?.[2] ?? 'b').toLowerCase()];
  const bytes = match && unit !== undefined ? Math.round(Number(match[1]) * unit) : Number.NaN;
  if (!(bytes > 0) || !Number.isSafeInteger(bytes)) {
    return { ok: false, message: `"${value}" is not a size (a positive number with B, KiB, MiB, GiB, TiB, KB, MB, GB or TB, e.g. 500MiB)` };
  }
  return { ok: true, value: bytes };
}

/** `3600` → `1h`, `90` → `90s`: the shortest exact spelling, for messages an agent reads. */
export function formatSeconds(seconds: number): string {
  for (const [unit, size] of [['d', 86_400], ['h', 3600], ['m', 60]] as const) {
    if (seconds >= size && seconds % size === 0) return `${seconds / size}${unit}`;
  }
  return Number.isInteger(seconds) ? `${seconds}s` : `${Math.round(seconds * 1000)}ms`;
}
