/**
 * Host patterns as written in rules: "github.com" (exactly that name), "*.github.com" (any subdomain, not the
 * apex) or "*" (any host name). The name part is normalised like a requested host (lower-case, no trailing
 * dot, IDN as punycode) so that rule and request compare byte for byte.
 */
import { normaliseHostname } from '../net/hostname.js';
import { quoteValue } from './errors.js';

export type HostPatternResult = { ok: true; pattern: string } | { ok: false; message: string };

export function normaliseHostPattern(text: string): HostPatternResult {
  if (text === '*') return { ok: true, pattern: '*' };
  const wildcard = text.startsWith('*.');
  const name = wildcard ? text.slice(2) : text;
  if (name.includes('*')) {
    return {
      ok: false,
      message: `${quoteValue(text)}: "*" is only allowed alone or as a leading "*." label`,
    };
  }
  const normalised = normaliseHostname(name);
  if ('error' in normalised) {
    return { ok: false, message: normalised.error };
  }
  if ('ip' in normalised) {
    // Addresses belong in `cidr:` rules, which is also where SSRF-sensitive ranges must be unlocked explicitly.
    return { ok: false, message: `${quoteValue(text)} is an IP address; write a cidr rule instead` };
  }
  return { ok: true, pattern: wildcard ? `*.${normalised.host}` : normalised.host };
}
