import type { ChokepointEvent } from './types.js';

/**
 * The DNS-specific attributes of OCSF 1.3.0 DNS Activity (4003) for a `dns.query` event: the query, the
 * answers handed out and the response code. Endpoints, connection and disposition are the network
 * attributes every network class shares (ocsf.ts).
 */

/** OCSF `rcode_id` for the RCODE names Chokepoint sends; anything else (DROPPED) is 99 Other. */
const RCODE_IDS: Readonly<Record<string, { id: number; name: string }>> = {
  NOERROR: { id: 0, name: 'NoError' },
  FORMERR: { id: 1, name: 'FormError' },
  SERVFAIL: { id: 2, name: 'ServError' },
  NXDOMAIN: { id: 3, name: 'NXDomain' },
  NOTIMP: { id: 4, name: 'NotImp' },
  REFUSED: { id: 5, name: 'Refused' },
};

export function dnsActivityFields(event: ChokepointEvent): Record<string, unknown> {
  const dns = event.dns;
  if (!dns) return {};
  const rcode = RCODE_IDS[dns.response_code] ?? { id: 99, name: dns.response_code };
  // The records when the event lists them; else the addresses handed out (after vetting), one answer each.
  const answers = dns.answers
    ? dns.answers.map((record) => ({ rdata: record.data, type: record.type, ttl: record.ttl, class: 'IN' }))
    : (dns.resolved_ip ?? []).map((address) => ({ rdata: address, type: address.includes(':') ? 'AAAA' : 'A', class: 'IN' }));
  return {
    query: { hostname: dns.question.name, type: dns.question.type, class: 'IN', packet_uid: dns.id },
    ...(answers.length > 0 ? { answers } : {}),
    rcode_id: rcode.id,
    rcode: rcode.name,
  };
}
