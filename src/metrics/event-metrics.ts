import type { EventBus } from '../events/bus.js';
import type { ChokepointEvent } from '../events/types.js';
import type { ChokepointMetrics } from './metrics.js';

/**
 * Feeds the metrics from the event stream, so the pipeline never calls metrics code: every fact counted
 * here is a fact some event already reports. Returns the unsubscribe function.
 */
export function feedMetricsFromEvents(events: EventBus, metrics: ChokepointMetrics): () => void {
  return events.subscribe((event) => countEvent(metrics, event));
}

export function countEvent(metrics: ChokepointMetrics, event: ChokepointEvent): void {
  const name = event.event.action;
  const agent = metrics.agentLabel(event.chokepoint.agent);
  metrics.events.inc({ event: name, agent });
  const entry = event.chokepoint.entry ?? 'none';
  if (name === 'flow.allowed' || name === 'flow.alerted') {
    metrics.flowsOpened.inc({ agent, entry, action: event.chokepoint.action ?? 'allow' });
  } else if (name === 'flow.denied') {
    const enforced = event.chokepoint.enforced !== false;
    metrics.denials.inc({ agent, rule_kind: ruleKind(event.rule?.id), enforced: String(enforced) });
    // An audit agent's denied flow is admitted and runs: it is opened as well.
    if (!enforced && event.chokepoint.flow_id !== undefined) metrics.flowsOpened.inc({ agent, entry, action: 'deny' });
  } else if (name === 'flow.closed') {
    const protocol = event.network?.protocol ?? 'none';
    metrics.flowsClosed.inc({ agent, entry, protocol, outcome: event.event.outcome ?? 'unknown' });
    const up = event.source?.bytes ?? 0;
    const down = event.destination?.bytes ?? 0;
    if (up > 0) metrics.flowBytes.inc({ agent, direction: 'up' }, up);
    if (down > 0) metrics.flowBytes.inc({ agent, direction: 'down' }, down);
    const classifiedMs = event.chokepoint.classification?.time_ms;
    if (classifiedMs !== undefined) metrics.classificationSeconds.observe({ protocol }, classifiedMs / 1000);
  } else if (name === 'dns.query') {
    // Response codes are a closed set (NOERROR, NXDOMAIN, REFUSED, SERVFAIL, FORMERR, DROPPED…).
    metrics.dnsQueries.inc({ agent, outcome: event.dns?.response_code ?? 'unknown' });
  } else if (name.startsWith('detection.') && event.chokepoint.detection) {
    const { kind, confidence, action } = event.chokepoint.detection;
    metrics.detections.inc({ agent, kind, confidence, action });
  }
}

/**
 * The kind of rule behind a denial, from its id: agent and global rules have operator-chosen ids (one
 * label value, `rule`, for all of them, so ids never become labels); built-in decisions have fixed ones.
 */
export function ruleKind(ruleId: string | undefined): string {
  if (ruleId === undefined) return 'none';
  if (['default-deny', 'unknown-agent', 'identity', 'quarantine', 'no-address', 'invalid-address'].includes(ruleId)) return ruleId;
  const prefix = /^(ssrf|detection|limit|auth|dns)\./.exec(ruleId);
  if (prefix?.[1]) return prefix[1];
  return 'rule';
}
