import type http from 'node:http';
import type { ChokepointConfig } from '../config/chokepoint-config.js';
import type { EventBus } from '../events/bus.js';
import type { FlowRegistry } from '../flow/registry.js';
import { TrainingMarkers } from '../markers/markers.js';
import { feedMetricsFromEvents } from '../metrics/event-metrics.js';
import { ChokepointMetrics } from '../metrics/metrics.js';
import type { AdminContext } from './routes.js';
import { createAdminServer } from './server.js';
import { resolveAdminToken } from './token.js';

/**
 * Wires the operator-facing parts into a running proxy: metrics fed from the event bus, training-step
 * markers as the bus's enrich hook, and (when configured) the admin API server. Kept out of server.ts
 * so the proxy's own wiring stays readable.
 */

export interface AdminParts {
  metrics: ChokepointMetrics;
  markers: TrainingMarkers;
  /** The admin API server (not yet listening); throws a StartupError-worthy message without a token. */
  createServer(sources: ChokepointConfig['admin']): Promise<http.Server>;
  /** Unsubscribes the metrics from the bus (on stop). */
  detach(): void;
}

export class AdminTokenError extends Error {}

export function startAdmin(context: Omit<AdminContext, 'metrics' | 'markers'> & { events: EventBus; registry: FlowRegistry }): AdminParts {
  let known: { policy: unknown; names: ReadonlySet<string> } = { policy: undefined, names: new Set() };
  const metrics = new ChokepointMetrics({
    knownAgents: () => {
      // Asked once per event: rebuilt only when a reload swapped the policy.
      const policy = context.pipeline.policy;
      if (policy !== known.policy) known = { policy, names: new Set([...policy.ruleSet.agents.map((agent) => agent.name), policy.unknownAgent.name]) };
      return known.names;
    },
    liveFlows: () => [...context.registry.all()].map((flow) => ({ agent: flow.agent.name, entry: flow.entry })),
  });
  const markers = new TrainingMarkers();
  context.events.setEnricher(markers.enrich);
  const unsubscribe = feedMetricsFromEvents(context.events, metrics);
  return {
    metrics,
    markers,
    async createServer(sources): Promise<http.Server> {
      const token = await resolveAdminToken(sources);
      if (!token.ok) throw new AdminTokenError(token.message);
      metrics.includeProcessMetrics();
      return createAdminServer({ ...context, metrics, markers }, token.token);
    },
    detach: unsubscribe,
  };
}
