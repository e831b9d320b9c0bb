/**
 * Reports queries refused for overload without one event per refused query: a flood is what triggers
 * the refusals, and an event per query would carry the flood into the SIEM. The first refusal for an
 * agent is reported at once (`refused: 1`); the ones after it are counted and reported together, once per
 * interval, for as long as they keep coming.
 */
import type { EventBus } from '../events/bus.js';

export interface OverloadRefusal {
  agent: string;
  agentMode: 'enforce' | 'audit';
  scope: 'agent' | 'total';
  limit: number;
  client: { ip: string; port: number };
}

interface Pending {
  latest: OverloadRefusal;
  count: number;
}

export class OverloadReporter {
  private readonly pending = new Map<string, Pending>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly events: EventBus,
    private readonly intervalMs: number,
  ) {}

  refused(refusal: OverloadRefusal): void {
    const counted = this.pending.get(refusal.agent);
    if (counted !== undefined) {
      counted.count += 1;
      counted.latest = refusal;
      return;
    }
    this.emit(refusal, 1);
    // From now on this agent's refusals are counted until an interval passes with none.
    this.pending.set(refusal.agent, { latest: refusal, count: 0 });
    this.arm();
  }

  private arm(): void {
    if (this.timer !== undefined) return;
    this.timer = setTimeout(() => this.flush(), this.intervalMs);
    // Never keeps the process alive on its own.
    this.timer.unref();
  }

  private flush(): void {
    this.timer = undefined;
    for (const [agent, counted] of this.pending) {
      if (counted.count === 0) {
        this.pending.delete(agent);
        continue;
      }
      this.emit(counted.latest, counted.count);
      counted.count = 0;
    }
    if (this.pending.size > 0) this.arm();
  }

  private emit(refusal: OverloadRefusal, count: number): void {
    const scope = refusal.scope === 'agent' ? `agent ${refusal.agent}` : 'all agents';
    this.events.emit({
      name: 'dns.overloaded',
      kind: 'alert',
      outcome: 'failure',
      agent: refusal.agent,
      agentMode: refusal.agentMode,
      source: { ip: refusal.client.ip, port: refusal.client.port },
      protocol: 'dns',
      reason: `${count} DNS ${count === 1 ? 'query' : 'queries'} answered SERVFAIL: ${refusal.limit} upstream queries already in flight for ${scope}`,
      details: { refused: count, scope: refusal.scope, limit: refusal.limit, interval_ms: this.intervalMs },
    });
  }
}
