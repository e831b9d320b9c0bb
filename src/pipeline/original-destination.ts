import type { Decision } from '../policy/types.js';

/**
 * A transparently redirected flow names its destination twice: by the address the agent's client
 * dialled, and by a name (TLS SNI, HTTP Host, or the agent's own DNS answer). Neither is trusted alone.
 * Chokepoint judges the name (rules are written by name) and dials the original address — but only if
 * that address is one of the name's vetted addresses. Otherwise the flow is denied: a client that sends
 * `SNI: allowed.example` to an arbitrary address is either spoofing the name to reach that address, or
 * resolved the name elsewhere; either way Chokepoint will not let a name vouch for an address it does
 * not resolve to. (Dialling a vetted address of the name instead would also be safe, but would send the
 * agent somewhere it did not ask to go and hide the attempt; denying reports it.)
 *
 * A name the agent got from Chokepoint's own DNS listener is vouched for by that answer: it still has
 * to resolve, and the original address is still judged (special ranges, cidr rules) like any other.
 */

export interface OriginalTarget {
  /** Canonical text of the address the agent connected to. */
  address: string;
  /** Where the name came from. */
  nameFrom: 'dns-answer' | 'sni' | 'host';
}

export type Pinned = { ok: true } | { decision: Decision };

export function pinToOriginal(host: string, resolved: readonly string[], original: OriginalTarget): Pinned {
  if (original.nameFrom === 'dns-answer' || resolved.includes(original.address)) return { ok: true };
  return {
    decision: {
      action: 'deny',
      rule: 'transparent.address-mismatch',
      reason: `the agent connected to ${original.address}, which is not an address of ${host} (from its ${original.nameFrom === 'sni' ? 'TLS SNI' : 'Host header'}; ${host} resolves to ${resolved.join(', ') || 'nothing'})`,
    },
  };
}
