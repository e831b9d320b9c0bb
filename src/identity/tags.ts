import type { Tags } from '../events/types.js';

/**
 * Correlation tags ride with a flow into every event: `Chokepoint-Tags: run=r1, episode=4, step=17,
 * call=c9` on HTTP / CONNECT, or the proxy user name `agent;run=r1;episode=4`. Keys and values are
 * restricted so that a tag can never inject structure into a SIEM record or blow up its size.
 */

const KEY = /^[a-z][a-z0-9_.-]{0,31}$/;
const VALUE = /^[\x21-\x7e]{1,128}$/; // printable ASCII, no spaces
const MAX_TAGS = 16;

export type TagParseResult = { tags: Tags } | { error: string };

/** Parses `k=v` pairs separated by `separator` (", " in the header, ";" in a user name). */
export function parseTags(text: string, separator: ',' | ';'): TagParseResult {
  const tags: Tags = {};
  const parts = text.split(separator).map((part) => part.trim()).filter((part) => part.length > 0);
  if (parts.length > MAX_TAGS) return { error: `at most ${MAX_TAGS} tags are accepted, got ${parts.length}` };
  for (const part of parts) {
    const eq = part.indexOf('=');
    if (eq <= 0) return { error: `tag "${clip(part)}" is not key=value` };
    const key = part.slice(0, eq).trim().toLowerCase();
    const value = part.slice(eq + 1).trim();
    if (!KEY.test(key)) return { error: `tag key "${clip(key)}" must match ${KEY.source}` };
    if (!VALUE.test(value) || value.includes(separator)) {
      return { error: `tag ${key} value must be 1-128 printable characters without spaces` };
    }
    tags[key] = value;
  }
  return { tags };
}

/** Splits a proxy user name `coder-7;run=r1;episode=4` into the credential user and its tags. */
export function splitUserTags(user: string): { user: string } & TagParseResult {
  const semi = user.indexOf(';');
  if (semi < 0) return { user, tags: {} };
  return { user: user.slice(0, semi), ...parseTags(user.slice(semi + 1), ';') };
}

function clip(text: string): string {
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}
