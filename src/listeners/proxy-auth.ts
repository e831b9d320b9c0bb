import type { ClientCredentials } from '../identity/identify.js';

/**
 * Reads `Proxy-Authorization: Basic base64(user:password)`. Returns undefined when the header is
 * absent, an error text when it is present but unusable (the client meant to authenticate, so a
 * malformed header must not silently fall back to source-address identity).
 */
export function parseProxyAuthorization(header: string | undefined): ClientCredentials | { error: string } | undefined {
  if (header === undefined) return undefined;
  const match = /^\s*basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (!match?.[1]) return { error: 'Proxy-Authorization must be "Basic <base64 user:token>"' };
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0) return { error: 'Proxy-Authorization must carry "user:token"' };
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}
