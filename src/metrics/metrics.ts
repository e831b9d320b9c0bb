import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * Every Prometheus metric of the proxy, on a registry of its own (never prom-client's global one, so two
 * proxies in one process — tests — never share counters). Scraped at `GET /metrics` on the admin
 * listener.
 *
 * Label cardinality is bounded by construction: `agent` is always an agent of the rules or `unknown`
 * (see `agentLabel`), the other labels come from closed sets (entry modes, protocol names, outcomes,
 * detection kinds, rule kinds). Nothing is ever labelled by destination, client address or flow id.
 *
 * Adding a metric (other branches): declare it below with `registers: [this.registry]`, label agents
 * with `this.agentLabel(name)`, and feed it from events in event-metrics.ts when an event carries the
 * fact; a fact no event carries gets a method here, called by the part that knows it.
 */

/** Collapses anything that is not an agent of the current rules. */
export const UNKNOWN_AGENT_LABEL = 'unknown';
/** Lifecycle events that belong to no agent. */
export const NO_AGENT_LABEL = 'none';

export interface MetricsOptions {
  /** The agents of the rules in force (the set changes on reload, so it is asked for each time). */
  knownAgents(): ReadonlySet<string>;
  /** Live flows per agent and entry mode, read at scrape time (the FlowRegistry). */
  liveFlows(): Iterable<{ agent: string; entry: string }>;
}

export class ChokepointMetrics {
  readonly registry = new Registry();

  readonly flowsOpened = new Counter({
    name: 'chokepoint_flows_opened_total',
    help: 'Flows admitted (allowed, alerted, or denied-but-not-enforced for audit agents)',
    labelNames: ['agent', 'entry', 'action'] as const,
    registers: [this.registry],
  });

  readonly flowsClosed = new Counter({
    name: 'chokepoint_flows_closed_total',
    help: 'Flows closed, by what their bytes spoke and whether they ended normally',
    labelNames: ['agent', 'entry', 'protocol', 'outcome'] as const,
    registers: [this.registry],
  });

  readonly flowBytes = new Counter({
    name: 'chokepoint_flow_bytes_total',
    help: 'Bytes relayed by closed flows: up = agent to destination, down = destination to agent',
    labelNames: ['agent', 'direction'] as const,
    registers: [this.registry],
  });

  readonly denials = new Counter({
    name: 'chokepoint_denials_total',
    help: 'flow.denied events by the kind of rule that decided (rule, default-deny, ssrf, detection, quarantine, limit, auth, identity, unknown-agent)',
    labelNames: ['agent', 'rule_kind', 'enforced'] as const,
    registers: [this.registry],
  });

  readonly detections = new Counter({
    name: 'chokepoint_detections_total',
    help: 'detection.* events by detection kind, confidence and the action the policy took',
    labelNames: ['agent', 'kind', 'confidence', 'action'] as const,
    registers: [this.registry],
  });

  readonly activeFlows: Gauge<'agent' | 'entry'>;

  readonly classificationSeconds = new Histogram({
    name: 'chokepoint_classification_seconds',
    help: 'Time from the start of a tunnel until its protocol was named (includes waiting for the first bytes)',
    labelNames: ['protocol'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });

  readonly dnsQueries = new Counter({
    name: 'chokepoint_dns_queries_total',
    help: 'DNS queries answered by the DNS listener, by answer kind',
    labelNames: ['agent', 'outcome'] as const,
    registers: [this.registry],
  });

  readonly events = new Counter({
    name: 'chokepoint_events_total',
    help: 'Events emitted, by event.action',
    labelNames: ['event', 'agent'] as const,
    registers: [this.registry],
  });

  constructor(private readonly options: MetricsOptions) {
    const liveFlows = options.liveFlows.bind(options);
    const agentLabel = this.agentLabel.bind(this);
    this.activeFlows = new Gauge({
      name: 'chokepoint_active_flows',
      help: 'Live flows (tunnels and in-flight plain-HTTP requests) at scrape time',
      labelNames: ['agent', 'entry'] as const,
      registers: [this.registry],
      collect(): void {
        // Recomputed on each scrape from the registry itself, so it can never drift from the truth.
        this.reset();
        const counts = new Map<string, { agent: string; entry: string; count: number }>();
        for (const flow of liveFlows()) {
          const agent = agentLabel(flow.agent);
          const key = `${agent}\u0000${flow.entry}`;
          const entry = counts.get(key) ?? { agent, entry: flow.entry, count: 0 };
          entry.count += 1;
          counts.set(key, entry);
        }
        for (const { agent, entry, count } of counts.values()) this.set({ agent, entry }, count);
      },
    });
  }

  /**
   * Adds Node's process metrics (CPU, memory, event-loop lag, handles) under `chokepoint_`. Only when
   * something scrapes (the admin listener is on): the event-loop monitor it enables is never released.
   */
  includeProcessMetrics(): void {
    if (this.processMetrics) return;
    this.processMetrics = true;
    collectDefaultMetrics({ register: this.registry, prefix: 'chokepoint_' });
  }

  private processMetrics = false;

  /** The `agent` label of a name: itself when the rules define it, `unknown` otherwise. */
  agentLabel(name: string | undefined): string {
    if (name === undefined) return NO_AGENT_LABEL;
    return this.options.knownAgents().has(name) ? name : UNKNOWN_AGENT_LABEL;
  }

  /** The exposition text and its content type, for the scrape endpoint. */
  async exposition(): Promise<{ contentType: string; text: string }> {
    return { contentType: this.registry.contentType, text: await this.registry.metrics() };
  }
}
