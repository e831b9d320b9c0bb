import { promises as dns } from 'node:dns';
import { LRUCache } from 'lru-cache';

/**
 * Resolves a name once per flow, with a cache that honours record TTLs (clamped to a configured
 * window). The static `hosts:` map of the config is consulted first, like /etc/hosts. The caller vets
 * every returned address and dials exactly those: there is no second lookup between check and use.
 */

export interface ResolverOptions {
  /** Normalised name → addresses (canonical text). */
  hosts: ReadonlyMap<string, readonly string[]>;
  cacheMaxEntries: number;
  minTtlSeconds: number;
  maxTtlSeconds: number;
  negativeTtlSeconds: number;
  timeoutMs: number;
  /** DNS servers to ask instead of the system's (tests, sites with a dedicated resolver). */
  servers?: string[];
}

export type Resolution =
  | { ok: true; addresses: string[]; source: 'hosts' | 'dns' | 'system' | 'cache' }
  | { ok: false; code: 'NXDOMAIN' | 'NODATA' | 'TIMEOUT' | 'SERVFAIL'; message: string };

type CachedAnswer = Exclude<Resolution, { source: 'cache' }>;

export class Resolver {
  private readonly cache: LRUCache<string, CachedAnswer>;
  private readonly inFlight = new Map<string, Promise<Resolution>>();
  private readonly dnsResolver: dns.Resolver;

  constructor(private readonly options: ResolverOptions) {
    this.cache = new LRUCache({ max: options.cacheMaxEntries, ttlAutopurge: false });
    this.dnsResolver = new dns.Resolver({ timeout: options.timeoutMs, tries: 2 });
    if (options.servers && options.servers.length > 0) this.dnsResolver.setServers(options.servers);
  }

  async resolve(host: string): Promise<Resolution> {
    const fixed = this.options.hosts.get(host);
    if (fixed) return { ok: true, addresses: [...fixed], source: 'hosts' };
    const cached = this.cache.get(host);
    if (cached) return cached.ok ? { ...cached, source: 'cache' } : cached;
    // Concurrent flows to the same name share one query.
    const pending = this.inFlight.get(host);
    if (pending) return pending;
    const query = this.query(host).finally(() => this.inFlight.delete(host));
    this.inFlight.set(host, query);
    return query;
  }

  private async query(host: string): Promise<Resolution> {
    const [v4, v6] = await Promise.all([
      this.dnsResolver.resolve4(host, { ttl: true }).catch((error: unknown) => error),
      this.dnsResolver.resolve6(host, { ttl: true }).catch((error: unknown) => error),
    ]);
    const records = [...(Array.isArray(v4) ? v4 : []), ...(Array.isArray(v6) ? v6 : [])];
    if (records.length > 0) {
      const ttl = Math.min(...records.map((record) => record.ttl));
      const answer: CachedAnswer = { ok: true, addresses: records.map((r) => r.address), source: 'dns' };
      this.cache.set(host, answer, { ttl: this.clampTtl(ttl) * 1000 });
      return answer;
    }
    // Names the DNS does not know may still be in /etc/hosts (getaddrinfo); it gives no TTL.
    const system = await dns.lookup(host, { all: true, verbatim: true }).catch(() => []);
    if (system.length > 0) {
      const answer: CachedAnswer = { ok: true, addresses: system.map((r) => r.address), source: 'system' };
      this.cache.set(host, answer, { ttl: this.options.minTtlSeconds * 1000 });
      return answer;
    }
    const failure = describeFailure(host, v4, v6);
    this.cache.set(host, failure, { ttl: this.options.negativeTtlSeconds * 1000 });
    return failure;
  }

  private clampTtl(seconds: number): number {
    return Math.max(this.options.minTtlSeconds, Math.min(this.options.maxTtlSeconds, seconds));
  }
}

function describeFailure(host: string, ...errors: unknown[]): Extract<Resolution, { ok: false }> {
  const codes = errors.map((error) => (error instanceof Error && 'code' in error ? String(error.code) : ''));
  if (codes.includes(dns.TIMEOUT)) return { ok: false, code: 'TIMEOUT', message: `DNS lookup of ${host} timed out` };
  if (codes.every((code) => code === dns.NOTFOUND)) {
    return { ok: false, code: 'NXDOMAIN', message: `${host} does not exist (NXDOMAIN)` };
  }
  if (codes.every((code) => code === dns.NODATA || code === dns.NOTFOUND)) {
    return { ok: false, code: 'NODATA', message: `${host} has no address records` };
  }
  return { ok: false, code: 'SERVFAIL', message: `DNS lookup of ${host} failed (${codes.filter(Boolean).join(', ')})` };
}
