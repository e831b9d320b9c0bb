import type { IncomingHttpHeaders } from 'node:http';

/**
 * Hop-by-hop headers (RFC 9110 §7.6.1) belong to one connection and must not be forwarded, and the
 * proxy's own request headers (Proxy-*, Chokepoint-Tags) must never leak to the destination.
 */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authorization',
  'proxy-authenticate',
  'te',
  'trailer',
  'upgrade',
  'chokepoint-tags',
]);

/** Removes hop-by-hop headers in place, including every header the Connection header names. */
export function stripHopByHop(headers: IncomingHttpHeaders, keepUpgrade = false): void {
  const connection = headers.connection;
  const named = (Array.isArray(connection) ? connection.join(',') : connection ?? '')
    .split(',')
    .map((name) => name.trim().toLowerCase())
    .filter((name) => name.length > 0);
  for (const name of [...HOP_BY_HOP, ...named]) {
    if (keepUpgrade && (name === 'upgrade' || name === 'connection')) continue;
    // Transfer-Encoding is framing, which Node re-does per hop; it is never in the set above so that
    // a chunked request body still streams.
    if (name === 'transfer-encoding' || name === 'content-length') continue;
    delete headers[name];
  }
}

export function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}
