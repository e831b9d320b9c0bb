import { formatAddress } from '../net/address.js';
import { normaliseHostname } from '../net/hostname.js';
import type { Resolution } from '../net/resolver.js';
import type { ProtocolName } from '../inspect/types.js';
import { judgeProtocol, judgeTarget, strongestAction, type ProtocolFinding } from '../policy/protocol-decision.js';
import type { Action, AgentPolicy } from '../policy/types.js';
import type { QuarantineEntry } from '../quarantine/store.js';
import type { PolicySnapshot } from './policy-snapshot.js';

/**
 * "What would happen if agent A connected to HOST:PORT speaking P?" — answered with the pipeline's own
 * policy code, in the pipeline's order (quarantine, intel, name phase, DNS, address phase with SSRF
 * vetting, then the protocol judgement of the rule that allowed it), without opening any connection.
 * Shared by `POST /v1/decide` and `chokepoint check`, so the two can never disagree.
 */

export interface DryRunQuery {
  agent: string;
  host: string;
  port: number;
  /** The protocol the flow would speak on the wire (as the classifier names it). */
  protocol?: ProtocolName;
}

export interface DryRunDeps {
  snapshot: PolicySnapshot;
  /** Names are resolved as a flow's would be (static hosts, cache, DNS): SSRF vetting needs the addresses. */
  resolve(host: string): Promise<Resolution>;
  /** The agent's quarantine, if any (absent: not consulted, e.g. `chokepoint check` without state). */
  quarantined?(agent: string): QuarantineEntry | undefined;
}

export interface DryRunResult {
  agent: string;
  mode: AgentPolicy['mode'];
  /** What the pipeline decides; for an audit agent a deny is reported but not enforced. */
  action: Action;
  enforced: boolean;
  rule: string;
  reason?: string;
  /** Which step decided: quarantine, intel, name, dns, address, protocol. */
  stage: 'quarantine' | 'intel' | 'name' | 'dns' | 'address' | 'protocol';
  /** Addresses the decision judged (the literal, or what the name resolved to). */
  addresses: string[];
  /** Detections the target or the protocol would raise (intel hits, protocol mismatches). */
  findings: Array<Pick<ProtocolFinding, 'kind' | 'action' | 'confidence' | 'evidence'>>;
}

export type DryRunOutcome = { ok: true; result: DryRunResult } | { ok: false; error: 'unknown_agent' | 'bad_target'; message: string };

export async function dryRunDecision(deps: DryRunDeps, query: DryRunQuery): Promise<DryRunOutcome> {
  const { snapshot } = deps;
  if (!Number.isInteger(query.port) || query.port < 1 || query.port > 65535) {
    return { ok: false, error: 'bad_target', message: `port ${query.port} is not a TCP port (1-65535)` };
  }
  const target = normaliseHostname(query.host);
  if ('error' in target) return { ok: false, error: 'bad_target', message: `bad destination host: ${target.error}` };
  const agent = snapshot.agentNamed(query.agent) ?? (query.agent === snapshot.unknownAgent.name ? snapshot.unknownAgent : undefined);
  if (!agent) {
    const known = [...snapshot.ruleSet.agents.map((a) => a.name)].join(', ');
    return { ok: false, error: 'unknown_agent', message: `no agent named ${query.agent} in the rules (agents: ${known || 'none'})` };
  }
  const host = 'host' in target ? target.host : undefined;
  const port = query.port;
  let addresses = 'ip' in target ? [formatAddress(target.ip)] : [];
  const findings: DryRunResult['findings'] = [];
  const result = (stage: DryRunResult['stage'], action: Action, rule: string, reason: string | undefined): DryRunOutcome => ({
    ok: true,
    result: {
      agent: agent.name,
      mode: agent.mode,
      action,
      enforced: action === 'deny' && agent.mode === 'enforce',
      rule,
      ...(reason !== undefined ? { reason } : {}),
      stage,
      addresses,
      findings,
    },
  });

  const quarantine = deps.quarantined?.(agent.name);
  if (quarantine && agent.mode === 'enforce') {
    return result('quarantine', 'deny', 'quarantine', `agent ${agent.name} is quarantined since ${quarantine.since} (${quarantine.reason})`);
  }
  const intel = judgeTarget(snapshot.ruleSet, host, port);
  findings.push(...intel.map(summarise));
  const intelAction = strongestAction(intel);
  if (intelAction === 'deny' || intelAction === 'quarantine') {
    const decisive = intel.find((finding) => finding.action === intelAction);
    if (decisive) return result('intel', 'deny', `detection.${decisive.kind}`, decisive.reason);
  }
  if (host !== undefined) {
    const early = snapshot.decideName(agent, host, port);
    if (early) return result('name', early.action, early.rule, early.reason);
    const resolution = await deps.resolve(host);
    if (!resolution.ok) return result('dns', 'deny', `dns.${resolution.code.toLowerCase()}`, resolution.message);
    addresses = resolution.addresses;
  }
  const decision = snapshot.decideAddresses(agent, { ...(host !== undefined ? { host } : {}), addresses, port });
  if (decision.action === 'deny' || query.protocol === undefined) return result('address', decision.action, decision.rule, decision.reason);

  const rule = snapshot.ruleById(decision.rule);
  const protocolFindings = judgeProtocol({
    ruleSet: snapshot.ruleSet,
    ...(host !== undefined ? { host } : {}),
    port,
    ...(rule ? { rule } : {}),
    classification: { protocol: query.protocol, decided: true, detections: [] },
  });
  findings.push(...protocolFindings.map(summarise));
  const protocolAction = strongestAction(protocolFindings);
  const refusal = protocolFindings.find((finding) => finding.action === protocolAction);
  if (refusal && protocolAction !== 'alert') return result('protocol', 'deny', `detection.${refusal.kind}`, refusal.reason);
  if (refusal && decision.action === 'allow') return result('protocol', 'alert', `detection.${refusal.kind}`, refusal.reason);
  return result('address', decision.action, decision.rule, decision.reason);
}

function summarise(finding: ProtocolFinding): DryRunResult['findings'][number] {
  return { kind: finding.kind, action: finding.action, confidence: finding.confidence, evidence: finding.evidence };
}

/** "host:port", "[v6]:port" → its parts; undefined when it is not that shape. */
export function parseTargetText(text: string): { host: string; port: number } | undefined {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text.trim());
  if (!match) return undefined;
  const host = match[1] ?? match[2];
  const port = Number(match[3]);
  return host === undefined ? undefined : { host, port };
}
