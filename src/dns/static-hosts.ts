/**
 * Answers for names in the config's static `hosts:` map, which the proxy's resolver consults before
 * DNS: the DNS listener answers them the same way (and vets them the same way) without asking upstream.
 */
import net from 'node:net';
import type { UpstreamAnswer } from './upstream.js';
import { RCODE, type DnsRecord } from './wire.js';

/** Static entries are fixed, but a client should still ask again after a reload: one minute at most. */
const STATIC_TTL_SECONDS = 60;

export function staticAnswer(host: string, type: string, addresses: readonly string[], maxTtlSeconds: number): UpstreamAnswer {
  const ttl = Math.min(STATIC_TTL_SECONDS, maxTtlSeconds);
  const answers: DnsRecord[] = [];
  for (const address of addresses) {
    if (type === 'A' && net.isIPv4(address)) answers.push({ type: 'A', name: host, ttl, data: address });
    if (type === 'AAAA' && net.isIPv6(address)) answers.push({ type: 'AAAA', name: host, ttl, data: address });
  }
  // Other types of a static name have no records (NODATA), as with /etc/hosts.
  return { ok: true, rcode: RCODE.NOERROR, answers, authorities: [], server: 'hosts' };
}
