import type { EventBus } from '../events/bus.js';
import type { QuarantineEntry, QuarantineStore } from './store.js';

/**
 * `agent.released` for every agent that was quarantined before a state reload and is not after it
 * (`chokepoint quarantine release`, then SIGHUP). A SIEM closes the finding `agent.quarantined`
 * opened (OCSF: Detection Finding, activity Close).
 */
export function reportReleases(events: EventBus, before: readonly QuarantineEntry[], store: QuarantineStore): void {
  for (const entry of before) {
    if (store.get(entry.agent)) continue;
    events.emit({
      name: 'agent.released',
      kind: 'state',
      outcome: 'success',
      agent: entry.agent,
      reason: `agent ${entry.agent} released from quarantine (in force since ${entry.since})`,
    });
  }
}
