import type { EventBus } from '../events/bus.js';
import type { Tags } from '../events/types.js';
import type { FlowRegistry } from '../flow/registry.js';
import type { QuarantineStore } from './store.js';

/** What put the agent in quarantine: the detection kind and its evidence, and where it was seen. */
export interface QuarantineCause {
  agent: string;
  agentMode: 'enforce' | 'audit';
  kind: string;
  evidence: string;
  /** The flow that tripped it; absent for findings outside a flow (DNS queries). */
  flowId?: string;
  tags?: Tags;
}

/**
 * Quarantines an agent: takes effect at once in memory (its next flow or query is refused), the state
 * file is written in the background (a failure to write it is an alert of its own), and every live
 * flow of the agent but the triggering one is closed. Shared by the flow judge and the DNS listener.
 */
export function quarantineAgent(
  parts: { quarantine: QuarantineStore; events: EventBus; registry: FlowRegistry },
  cause: QuarantineCause,
): void {
  const { quarantine, events, registry } = parts;
  const { agent } = cause;
  const already = quarantine.get(agent) !== undefined;
  const entry = {
    agent,
    since: new Date().toISOString(),
    reason: `${cause.kind}: ${cause.evidence}`.slice(0, 500),
    ...(cause.flowId !== undefined ? { flowId: cause.flowId } : {}),
    trigger: cause.kind,
  };
  quarantine.add(entry).catch((error: unknown) =>
    events.emit({
      name: 'listener.error',
      kind: 'alert',
      outcome: 'failure',
      agent,
      reason: `quarantine of ${agent} is in force but could not be saved: ${error instanceof Error ? error.message : String(error)}`,
    }),
  );
  if (!already) {
    events.emit({
      name: 'agent.quarantined',
      kind: 'alert',
      agent,
      agentMode: cause.agentMode,
      ...(cause.flowId !== undefined ? { flowId: cause.flowId } : {}),
      ...(cause.tags !== undefined ? { tags: cause.tags } : {}),
      reason: `agent ${agent} quarantined after ${cause.kind} (${cause.evidence})`.slice(0, 1000),
    });
  }
  for (const other of [...registry.all()]) {
    if (other.agent.name === agent && other.id !== cause.flowId) other.terminate?.(`agent ${agent} is quarantined`);
  }
}
