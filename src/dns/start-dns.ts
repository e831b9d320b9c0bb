/**
 * Builds the DNS service from the config: the upstream resolvers (configured, or the system's), the
 * tunnel detector and the policy parts it shares with the proxy.
 */
import { getServers } from 'node:dns';
import { parseServerAddress, type ServerAddress } from '../config/addresses.js';
import type { ChokepointConfig } from '../config/chokepoint-config.js';
import { DnsService, type DnsServiceParts } from './dns-service.js';
import { DnsTunnelDetector } from './tunnel-detector.js';
import { UpstreamForwarder } from './upstream.js';

export function startDnsService(
  config: ChokepointConfig,
  parts: Pick<DnsServiceParts, 'policy' | 'quarantines' | 'events' | 'names'>,
): { service: DnsService } | { error: string } {
  const upstreams = config.dns.upstreams.length > 0 ? config.dns.upstreams : systemResolvers();
  if (upstreams.length === 0) return { error: 'the DNS listener has no upstream resolver: set dns.upstreams in the config' };
  return {
    service: new DnsService({
      ...parts,
      upstream: new UpstreamForwarder(upstreams, config.dns.timeoutMs),
      detector: new DnsTunnelDetector(),
      hosts: config.hosts,
      maxTtlSeconds: config.dns.maxTtlSeconds,
      inFlight: { perAgent: config.dns.maxInFlightPerAgent, total: config.dns.maxInFlight },
    }),
  };
}

/** The resolvers of /etc/resolv.conf as Node read them at start-up ("8.8.8.8", "[::1]:5353"). */
function systemResolvers(): ServerAddress[] {
  return getServers().flatMap((text) => {
    const parsed = parseServerAddress(text);
    return parsed.ok ? [parsed.server] : [];
  });
}
