import type { Flow } from './flow.js';

/**
 * Live flows, for limits (total and per agent), for re-deciding them when the policy changes, and
 * later for the admin API's kill action.
 */
export class FlowRegistry {
  private readonly flows = new Map<string, Flow>();
  private readonly perAgent = new Map<string, number>();
  /** Resolvers of `whenEmpty` calls, run when the last flow is removed. */
  private emptyWaiters: Array<() => void> = [];

  constructor(private readonly limits: { maxTotal: number; maxPerAgent: number }) {}

  /** Registers the flow, or says which limit it would break. */
  tryAdd(flow: Flow): { ok: true } | { ok: false; reason: string; scope: 'total' | 'agent' } {
    if (this.flows.size >= this.limits.maxTotal) {
      return { ok: false, scope: 'total', reason: `the proxy is at its limit of ${this.limits.maxTotal} concurrent flows; retry later` };
    }
    const count = this.perAgent.get(flow.agent.name) ?? 0;
    if (count >= this.limits.maxPerAgent) {
      return {
        ok: false,
        scope: 'agent',
        reason: `agent ${flow.agent.name} is at its limit of ${this.limits.maxPerAgent} concurrent flows; close some connections first`,
      };
    }
    this.flows.set(flow.id, flow);
    this.perAgent.set(flow.agent.name, count + 1);
    return { ok: true };
  }

  remove(flow: Flow): void {
    if (!this.flows.delete(flow.id)) return;
    const count = (this.perAgent.get(flow.agent.name) ?? 1) - 1;
    if (count <= 0) this.perAgent.delete(flow.agent.name);
    else this.perAgent.set(flow.agent.name, count);
    if (this.flows.size === 0 && this.emptyWaiters.length > 0) {
      const waiters = this.emptyWaiters;
      this.emptyWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }

  /** Resolves once no flow is live (at once if none is): a stop waits for the last `flow.closed`. */
  whenEmpty(): Promise<void> {
    if (this.flows.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.emptyWaiters.push(resolve));
  }

  get size(): number {
    return this.flows.size;
  }

  all(): IterableIterator<Flow> {
    return this.flows.values();
  }

  get(id: string): Flow | undefined {
    return this.flows.get(id);
  }
}
