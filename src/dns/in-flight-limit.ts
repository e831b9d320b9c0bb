/**
 * Bounds the upstream queries pending at once, per agent and in all. Each pending query holds a UDP
 * socket (a file descriptor) and a timer until the upstream answers or times out, so a flood of queries
 * for names the upstream is slow to answer (a tunnel's own authoritative server can simply never
 * reply) would otherwise exhaust the process's descriptors and starve every other agent and listener.
 * The per-agent cap keeps one agent from using the whole global budget.
 */
export interface InFlightLimits {
  perAgent: number;
  total: number;
}

export type Admission = { admitted: true; release: () => void } | { admitted: false; scope: 'agent' | 'total'; limit: number };

export class InFlightLimiter {
  private total = 0;
  private readonly perAgent = new Map<string, number>();

  constructor(private readonly limits: InFlightLimits) {}

  admit(agent: string): Admission {
    const mine = this.perAgent.get(agent) ?? 0;
    if (mine >= this.limits.perAgent) return { admitted: false, scope: 'agent', limit: this.limits.perAgent };
    if (this.total >= this.limits.total) return { admitted: false, scope: 'total', limit: this.limits.total };
    this.total += 1;
    this.perAgent.set(agent, mine + 1);
    let released = false;
    return {
      admitted: true,
      release: () => {
        if (released) return;
        released = true;
        this.total -= 1;
        const left = (this.perAgent.get(agent) ?? 1) - 1;
        // Agents with nothing pending leave the map: it holds only agents with queries in flight.
        if (left === 0) this.perAgent.delete(agent);
        else this.perAgent.set(agent, left);
      },
    };
  }

  /** Queries pending now (tests, metrics). */
  get inFlight(): number {
    return this.total;
  }
}
