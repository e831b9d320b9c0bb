import type { EventInput } from '../events/types.js';
import type { Flow } from './flow.js';

/**
 * What every event about one flow's traffic says of the flow — who, from where, to where — so that a
 * detection and a budget alert name the flow the same way its `flow.*` events do.
 */
export type FlowEventFields = Pick<EventInput, 'flowId' | 'agent' | 'agentMode' | 'entry' | 'tags' | 'source' | 'destination'>;

export function flowEventFields(flow: Flow): FlowEventFields {
  return {
    flowId: flow.id,
    agent: flow.agent.name,
    agentMode: flow.agent.mode,
    entry: flow.entry,
    tags: flow.tags,
    source: { ip: flow.client.address, port: flow.client.port },
    // Like the flow events: the single vetted address when nothing was dialled yet (a bare-address
    // transparent flow refused on its first bytes would otherwise name no destination at all).
    destination: {
      ...(flow.target.host ? { domain: flow.target.host } : {}),
      ...(flow.dialled ? { ip: flow.dialled } : flow.addresses.length === 1 ? { ip: flow.addresses[0] } : {}),
      port: flow.target.port,
    },
  };
}
