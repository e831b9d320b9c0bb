import http, { type ClientRequestArgs } from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { LRUCache } from 'lru-cache';

/**
 * Keep-alive connection pools for plain-HTTP forwarding, one per set of vetted addresses. A pool dials
 * only the addresses it was made for — never a name — and tries them in turn (Node's happy-eyeballs
 * `autoSelectFamily` over the vetted list), as tunnels do, so a dual-stack name whose first address
 * does not answer still works.
 */

/** Distinct destinations with a warm pool at once; the least recently used pool is closed past this. */
const MAX_POOLS = 512;

class VettedAddressesAgent extends http.Agent {
  constructor(private readonly addresses: readonly string[]) {
    super({ keepAlive: true, maxFreeSockets: 256 });
  }

  /** Returning the socket is enough: the Agent hands it to the request itself. */
  override createConnection(options: ClientRequestArgs): Duplex {
    const vetted = this.addresses.map((address) => ({ address, family: net.isIPv6(address) ? 6 : 4 }));
    const first = vetted[0] ?? { address: '', family: 4 };
    const socket = net.connect({
      // A placeholder name, so that Node asks `lookup`; the answer is the vetted addresses, nothing is
      // resolved (an IP literal here would skip `lookup` and with it the other addresses).
      host: 'vetted-addresses.chokepoint.invalid',
      port: Number(options.port),
      noDelay: true,
      lookup: (_name, lookupOptions, answer) => (lookupOptions.all ? answer(null, vetted) : answer(null, first.address, first.family)),
      autoSelectFamily: true,
    });
    return socket;
  }
}

export class UpstreamAgents {
  private readonly pools = new LRUCache<string, VettedAddressesAgent>({ max: MAX_POOLS, dispose: (agent) => agent.destroy() });

  /** The pool for exactly these vetted addresses (in the resolver's order). */
  for(addresses: readonly string[]): http.Agent {
    const key = addresses.join(' ');
    let agent = this.pools.get(key);
    if (!agent) {
      agent = new VettedAddressesAgent(addresses);
      this.pools.set(key, agent);
    }
    return agent;
  }

  /** Closes every pooled connection (the listener is closing). */
  destroy(): void {
    this.pools.clear();
  }
}
