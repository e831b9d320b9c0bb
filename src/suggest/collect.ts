import { formatAddress, parseIpLiteral } from '../net/address.js';
import { isSubdomainOf } from '../net/hostname.js';
import { specialRangeOf } from '../net/special-ranges.js';
import type { PolicySnapshot } from '../pipeline/policy-snapshot.js';
import type { SeenEvent } from './read-events.js';

/**
 * Sorts what an agent tried to reach into what an allow rule would fix (refused only because nothing
 * allowed it: `default-deny`) and what must not be suggested: special-range addresses, names a deny
 * rule refuses (globally or for the agent), destinations that raised a detection. With the rules in
 * force, destinations they already allow are dropped, and each candidate is judged again.
 */

export interface Candidate {
  /** A host name, or undefined for an IP literal. */
  host?: string;
  ip?: string;
  port: number;
  flows: number;
}

export interface AgentFindings {
  agent: string;
  candidates: Map<string, Candidate>;
  /** "host:port" → why it is not suggested. */
  excluded: Map<string, string>;
}

export function collect(events: readonly SeenEvent[], snapshot: PolicySnapshot | undefined, onlyAgent?: string): Map<string, AgentFindings> {
  const byAgent = new Map<string, AgentFindings>();
  /** Per agent: name or address → the detection it raised. */
  const detectedBy = new Map<string, Map<string, string>>();
  const findingsOf = (agent: string): AgentFindings => {
    let findings = byAgent.get(agent);
    if (!findings) {
      findings = { agent, candidates: new Map(), excluded: new Map() };
      byAgent.set(agent, findings);
    }
    return findings;
  };
  for (const event of events) {
    if (onlyAgent !== undefined && event.agent !== onlyAgent) continue;
    const findings = findingsOf(event.agent);
    const target = event.domain ?? event.ip;
    if (target === undefined) continue;
    const key = `${target}:${event.port}`;
    if (event.action.startsWith('detection.')) {
      // A budget alert is about the agent's volume, not about where it went.
      if (event.action === 'detection.budget_exceeded') continue;
      const what = `raised ${event.action}${event.detectionKind && `detection.${event.detectionKind}` !== event.action ? ` (${event.detectionKind})` : ''}`;
      findings.excluded.set(key, what);
      const detected = detectedBy.get(event.agent) ?? new Map<string, string>();
      detected.set(target, what);
      detectedBy.set(event.agent, detected);
      continue;
    }
    if (event.action !== 'flow.denied' || event.ruleId === undefined) continue;
    const refusal = whyNot(event.ruleId, snapshot);
    if (refusal) {
      if (!findings.excluded.has(key)) findings.excluded.set(key, refusal);
      continue;
    }
    if (event.ruleId !== 'default-deny') continue;
    const literal = event.domain === undefined && event.ip !== undefined ? parseIpLiteral(event.ip) : undefined;
    const special = literal ? specialRangeOf(literal) : undefined;
    if (special) {
      findings.excluded.set(key, `special-range address (${special.name})`);
      continue;
    }
    const existing = findings.candidates.get(key);
    if (existing) existing.flows += 1;
    else findings.candidates.set(key, { ...(event.domain ? { host: event.domain } : { ip: literal ? formatAddress(literal) : target }), port: event.port, flows: 1 });
    if (snapshot) rejudge(snapshot, findings, key, event);
  }
  for (const findings of byAgent.values()) {
    for (const key of findings.excluded.keys()) findings.candidates.delete(key);
    excludeDetected(findings, detectedBy.get(findings.agent));
  }
  return byAgent;
}

/**
 * A destination that raised a detection is suggested on no port: a mining pool seen on 3333 is no
 * better on 443. Names related to a detected one (its parent — a DNS tunnel's base domain under the
 * data labels — or its children) are left out too.
 */
function excludeDetected(findings: AgentFindings, detected: ReadonlyMap<string, string> | undefined): void {
  if (!detected) return;
  for (const [key, candidate] of findings.candidates) {
    const target = candidate.host ?? candidate.ip ?? '';
    for (const [name, what] of detected) {
      if (target !== name && !isSubdomainOf(target, name) && !isSubdomainOf(name, target)) continue;
      findings.candidates.delete(key);
      findings.excluded.set(key, `${name} ${what}`);
      break;
    }
  }
}

/**
 * Refusals an allow rule must not paper over: special ranges, deny rules (by their default ids, or by
 * what the rules say the id is), detections. Other refusals (quarantine, budgets, limits) say nothing
 * about the destination.
 */
function whyNot(ruleId: string, snapshot?: PolicySnapshot): string | undefined {
  if (ruleId.startsWith('ssrf.')) return `special-range address (${ruleId.slice('ssrf.'.length)})`;
  if (ruleId.startsWith('detection.')) return `refused by ${ruleId}`;
  const rule = snapshot?.ruleById(ruleId);
  const globalIds = new Set(snapshot?.ruleSet.globalDeny.map((global) => global.id) ?? []);
  if (ruleId.startsWith('global.') || globalIds.has(ruleId)) return `denied for every agent by ${ruleId}`;
  if (rule?.list === 'deny' || /\.deny\.\d+$/.test(ruleId)) return `denied by the agent's rule ${ruleId}`;
  return undefined;
}

/** Judged by the rules in force now: already allowed (dropped) or refused by a deny rule (excluded). */
function rejudge(snapshot: PolicySnapshot, findings: AgentFindings, key: string, event: SeenEvent): void {
  const agent = snapshot.agentNamed(findings.agent);
  if (!agent) return;
  const early = event.domain ? snapshot.decideName(agent, event.domain, event.port) : undefined;
  const decision =
    early ??
    (event.resolved.length > 0 || event.ip
      ? snapshot.decideAddresses(agent, { ...(event.domain ? { host: event.domain } : {}), addresses: event.resolved.length > 0 ? event.resolved : [event.ip ?? ''], port: event.port })
      : undefined);
  if (!decision) return;
  if (decision.action !== 'deny') {
    findings.candidates.delete(key);
    return;
  }
  const refusal = whyNot(decision.rule, snapshot);
  if (refusal) findings.excluded.set(key, refusal);
}
