import { elapsedNs, type Flow } from '../flow/flow.js';
import type { FlowRegistry } from '../flow/registry.js';
import type { TrainingMarkers } from '../markers/markers.js';
import type { PolicySnapshot } from '../pipeline/policy-snapshot.js';
import type { QuarantineStore } from '../quarantine/store.js';

/** What the admin API shows of agents and flows: summaries only, never a credential, hash or token. */

export interface FlowView {
  id: string;
  agent: string;
  entry: string;
  tags: Record<string, string>;
  target: { host?: string; requested: string; port: number; address?: string };
  client: { address: string; port: number };
  protocol: string | null;
  decision: { action: string; rule: string };
  bytes: { up: number; down: number };
  age_ms: number;
}

export function flowView(flow: Flow): FlowView {
  return {
    id: flow.id,
    agent: flow.agent.name,
    entry: flow.entry,
    tags: flow.tags,
    target: {
      ...(flow.target.host !== undefined ? { host: flow.target.host } : {}),
      requested: flow.target.requested,
      port: flow.target.port,
      ...(flow.dialled !== undefined ? { address: flow.dialled } : {}),
    },
    client: flow.client,
    protocol: flow.protocol ?? null,
    decision: { action: flow.decision.action, rule: flow.decision.rule },
    bytes: flow.liveBytes?.() ?? { up: 0, down: 0 },
    age_ms: Math.round(elapsedNs(flow) / 1e6),
  };
}

export function agentsView(snapshot: PolicySnapshot, registry: FlowRegistry, quarantine: QuarantineStore, markers: TrainingMarkers): unknown[] {
  const live = new Map<string, { flows: number; up: number; down: number }>();
  for (const flow of registry.all()) {
    const totals = live.get(flow.agent.name) ?? { flows: 0, up: 0, down: 0 };
    const bytes = flow.liveBytes?.() ?? { up: 0, down: 0 };
    totals.flows += 1;
    totals.up += bytes.up;
    totals.down += bytes.down;
    live.set(flow.agent.name, totals);
  }
  const agents = [...snapshot.ruleSet.agents];
  if (!agents.some((agent) => agent.name === snapshot.unknownAgent.name)) agents.push(snapshot.unknownAgent);
  return agents.map((agent) => {
    const totals = live.get(agent.name) ?? { flows: 0, up: 0, down: 0 };
    const quarantined = quarantine.get(agent.name);
    const marker = markers.get(agent.name);
    return {
      name: agent.name,
      mode: agent.mode,
      unknown_clients: agent.name === snapshot.unknownAgent.name,
      // Who it is, never how it proves it: user names and source ranges, no token hashes.
      identity: { sources: agent.sources, credential_users: agent.credentials.map((credential) => credential.user) },
      rules: agent.rules.length,
      live_flows: totals.flows,
      bytes: { up: totals.up, down: totals.down },
      quarantine: quarantined
        ? { since: quarantined.since, reason: quarantined.reason, ...(quarantined.trigger ? { trigger: quarantined.trigger } : {}), ...(quarantined.expiresAt ? { expires_at: quarantined.expiresAt } : {}) }
        : null,
      marker: marker ? { labels: marker.labels, set_at: marker.setAt } : null,
    };
  });
}
