import { LRUCache } from 'lru-cache';

/**
 * Which names an agent was told resolve to which addresses. The DNS listener records every answer it
 * gives; the transparent listener, which only sees an original destination address, asks here which
 * name the agent meant, so a redirected flow is judged (and reported) by name and not by bare address.
 *
 * Answers are remembered per agent: one agent's lookup must never lend a name to another agent's flow.
 * An entry lives as long as the answer's TTL (at least `minTtlSeconds`, since clients cache answers a
 * little past their TTL), and the table is bounded so a flood of lookups cannot grow it without end.
 */
export interface NameMemoryOptions {
  maxEntries: number;
  minTtlSeconds: number;
  /** Milliseconds from any origin; the monotonic clock unless a test steps its own. */
  now?: () => number;
}

export class NameMemory {
  private readonly names: LRUCache<string, string>;
  private readonly minTtlMs: number;

  constructor(options: NameMemoryOptions = { maxEntries: 50_000, minTtlSeconds: 60 }) {
    const now = options.now;
    this.names = new LRUCache({ max: options.maxEntries, ttlAutopurge: false, ...(now ? { perf: { now }, ttlResolution: 0 } : {}) });
    this.minTtlMs = options.minTtlSeconds * 1000;
  }

  /** Records that `agent` was told `name` resolves to each of `addresses` (canonical text). */
  remember(agent: string, name: string, addresses: readonly string[], ttlSeconds: number): void {
    const ttl = Math.max(this.minTtlMs, ttlSeconds * 1000);
    for (const address of addresses) this.names.set(key(agent, address), name, { ttl });
  }

  /** The name `agent` most recently resolved to `address`, if the answer is still fresh. */
  nameFor(agent: string, address: string): string | undefined {
    return this.names.get(key(agent, address));
  }

  get size(): number {
    return this.names.size;
  }
}

function key(agent: string, address: string): string {
  return `${agent}\u0000${address}`;
}
