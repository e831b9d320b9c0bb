import type { ChokepointEvent } from '../events/types.js';

/**
 * Severity of an event, for the sinks' `min_severity` filter.
 *
 * PLACEHOLDER for the merge: the schema branch gives every event an `event.severity`; when it lands,
 * this function becomes a read of that field (and the ladder below its scale). Until then severity is
 * derived from what every event already has: its kind, its action and a detection's confidence.
 */
export const SEVERITIES = ['info', 'low', 'medium', 'high', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];

export function severityRank(severity: Severity): number {
  return SEVERITIES.indexOf(severity);
}

export function eventSeverity(event: ChokepointEvent): Severity {
  const detection = event.chokepoint.detection;
  if (detection) {
    if (detection.action === 'quarantine') return 'critical';
    return detection.confidence;
  }
  if (event.event.action === 'agent.quarantined') return 'critical';
  if (event.event.action === 'flow.denied') return 'medium';
  if (event.event.kind === 'alert') return 'medium';
  return 'info';
}
