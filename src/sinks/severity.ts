import type { ChokepointEvent } from '../events/types.js';

/**
 * Severity names for the sinks' `min_severity` filter, on the bus's one scale: `event.severity` is 1
 * (informational) … 5 (critical), computed centrally in src/events/severity.ts, so a filter here and a
 * SIEM rule on the field always agree.
 */
export const SEVERITIES = ['info', 'low', 'medium', 'high', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];

export function severityRank(severity: Severity): number {
  return SEVERITIES.indexOf(severity);
}

export function eventSeverity(event: ChokepointEvent): Severity {
  const index = Math.min(SEVERITIES.length, Math.max(1, event.event.severity)) - 1;
  return SEVERITIES[index] ?? 'info';
}
