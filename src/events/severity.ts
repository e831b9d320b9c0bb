import type { DetectionFields, EventInput } from './types.js';

/**
 * One severity scale for every event, computed here so that a detection added anywhere gets one
 * without asking. The numbers are OCSF's `severity_id` (1 informational … 5 critical), so ECS
 * `event.severity` and OCSF `severity_id` carry the same value. The table is in docs/ocsf-mapping.md.
 */

export const SEVERITY_LABELS = ['unknown', 'informational', 'low', 'medium', 'high', 'critical'] as const;
export type SeverityLabel = (typeof SEVERITY_LABELS)[number];

export interface Severity {
  value: 1 | 2 | 3 | 4 | 5;
  label: SeverityLabel;
}

/** What the policy does sets the base: quarantine means a compromised agent, alert only a report. */
const ACTION_BASE: Record<DetectionFields['action'], number> = { quarantine: 4, deny: 3, alert: 2 };
/** Confidence moves it one step: a high-confidence finding is worse than a guess about the same thing. */
const CONFIDENCE_STEP: Record<DetectionFields['confidence'], number> = { high: 1, medium: 0, low: -1 };

/** Events that are not detections: what an analyst should look at first. */
const EVENT_SEVERITY: Record<string, number> = {
  'agent.quarantined': 4,
  // Events discarded for good: the audit trail has a hole.
  'sink.dropped': 4,
  'sink.spool_overflow': 4,
  'sink.dead_letter': 4,
  'config.rejected': 3,
  'listener.error': 3,
  // Delivery still owed (spooled, retried) or never made (a trainer not told to pause).
  'sink.error': 3,
  'quarantine.webhook_failed': 3,
  'ssh.upstream_failed': 3,
  // Agents' lookups refused for lack of capacity: a flood, or a resolver too slow for the load.
  'dns.overloaded': 3,
  'flow.alerted': 2,
  'flow.denied': 2,
  'flow.killed': 2,
  'ssh.refused': 2,
};

/** Detections never drop below low: a detection is always worth a look. */
export function detectionSeverity(detection: Pick<DetectionFields, 'action' | 'confidence'>): Severity {
  return severity(Math.min(5, Math.max(2, ACTION_BASE[detection.action] + CONFIDENCE_STEP[detection.confidence])));
}

export function eventSeverity(input: Pick<EventInput, 'name' | 'detection' | 'ruleId'>): Severity {
  if (input.detection) return detectionSeverity(input.detection);
  // Someone holding credentials that match no agent is probing the proxy, not an agent off its allowlist.
  if (input.name === 'flow.denied' && input.ruleId === 'auth.invalid-credentials') return severity(3);
  return severity(EVENT_SEVERITY[input.name] ?? 1);
}

function severity(value: number): Severity {
  const clamped = Math.min(5, Math.max(1, Math.round(value))) as Severity['value'];
  return { value: clamped, label: SEVERITY_LABELS[clamped] };
}
