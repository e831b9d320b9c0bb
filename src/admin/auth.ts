import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * Bearer-token check of the admin API. Both sides are hashed first so the comparison is constant-time
 * whatever the lengths (timingSafeEqual needs equal lengths, and comparing lengths first would leak it).
 */
export function bearerMatches(authorization: string | undefined, token: string): boolean {
  const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization ?? '');
  const presented = match?.[1] ?? '';
  const equal = timingSafeEqual(digest(presented), digest(token));
  return match !== null && equal;
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}
