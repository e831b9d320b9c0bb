/**
 * Which record types the DNS listener forwards, and why.
 *
 *  - A / AAAA: forwarded; every address is vetted like a flow's (answer-filter.ts).
 *  - CNAME: forwarded; every name of the chain is checked against deny rules.
 *  - TXT, MX, SRV, NS, PTR, SOA, CAA, NAPTR, SSHFP, TLSA, DS, DNSKEY: forwarded as they are. They carry
 *    no address a client would dial without asking for it again (an MX or SRV target is a name the
 *    agent must resolve through us, and is judged then). TXT is a tunnelling channel too: the tunnel
 *    detector watches it.
 *  - HTTPS / SVCB: answered empty (NODATA). Their ipv4hint / ipv6hint parameters are addresses that
 *    would bypass vetting; clients fall back to A / AAAA.
 *  - NULL (iodine's favourite), ANY (RFC 8482), AXFR / IXFR (zone transfers) and everything else:
 *    REFUSED with an Extended DNS Error saying the type is not served.
 */
export const ADDRESS_TYPES: ReadonlySet<string> = new Set(['A', 'AAAA']);

export const FORWARDED_TYPES: ReadonlySet<string> = new Set([
  'A',
  'AAAA',
  'CNAME',
  'TXT',
  'MX',
  'SRV',
  'NS',
  'PTR',
  'SOA',
  'CAA',
  'NAPTR',
  'SSHFP',
  'TLSA',
  'DS',
  'DNSKEY',
]);

/** dns-packet names types it has no mnemonic for "UNKNOWN_<code>": SVCB is 64, HTTPS 65. */
export const EMPTY_ANSWER_TYPES: ReadonlySet<string> = new Set(['UNKNOWN_64', 'UNKNOWN_65', 'SVCB', 'HTTPS']);

/** A readable name for a type in events and EDE texts. */
export function typeName(type: string): string {
  if (type === 'UNKNOWN_64') return 'SVCB';
  if (type === 'UNKNOWN_65') return 'HTTPS';
  if (type === 'UNKNOWN_255' || type === 'ANY') return 'ANY';
  return type.startsWith('UNKNOWN_') ? `TYPE${type.slice('UNKNOWN_'.length)}` : type;
}
