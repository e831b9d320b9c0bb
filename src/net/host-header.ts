import { normaliseHostname } from './hostname.js';

/**
 * Comparing a name the agent wrote in its bytes (TLS SNI, an HTTP Host header) with the host it asked
 * the proxy for: both normalised the same way (case, trailing dot, IDN), ports and IPv6 brackets dropped.
 */

/** The host part of a Host header value: `example.com:8080` → `example.com`, `[::1]:80` → `::1`. */
export function hostOfHostHeader(value: string): string {
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(value);
  if (bracketed?.[1]) return bracketed[1];
  const colon = value.lastIndexOf(':');
  return colon > 0 && value.indexOf(':') === colon ? value.slice(0, colon) : value;
}

/** True when `seen` names the normalised host `requested`. */
export function sameHost(seen: string, requested: string): boolean {
  const normalised = normaliseHostname(seen);
  return 'host' in normalised ? normalised.host === requested : false;
}
