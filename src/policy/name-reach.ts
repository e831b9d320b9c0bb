/**
 * The DNS listener's questions to an agent's compiled policy. A flow has a port; a DNS query has none,
 * so a name is resolvable when the agent could reach it on *some* port: a name allowed only on 22 is
 * still answered. The decision as a function of the port only changes where a rule matching the name
 * (or an allow/alert CIDR rule) starts or stops covering ports, so the name is judged once at each of
 * those breakpoints rather than at 65,535 ports.
 *
 * The same candidate ports then vet what an answer would hand out:
 *  - an address is handed out when the agent may reach the queried name at that address on at least one
 *    port where the name is resolvable (the full flow decision: global / agent deny CIDRs, SSRF vetting
 *    of special ranges, allow CIDRs);
 *  - a name further down a CNAME chain must not be denied by a rule (global or the agent's) on every such
 *    port: the addresses of a denied name must not be handed out under an allowed alias. It needs no
 *    allow rule of its own (CDNs put every allowed name behind names nobody lists), as a flow through the
 *    proxy is judged by the name the agent asked for too.
 */
import { hostKeys } from './host-keys.js';
import type { CompiledAgent } from './compiled-agent.js';
import { BUILT_IN_RULES } from './decision-text.js';
import type { Decision, PortRange } from './types.js';

export type NameReach =
  | { kind: 'denied'; decision: Decision }
  | { kind: 'resolvable'; ports: readonly number[] };

const MAX_PORT = 65535;

/** Can the agent reach `host` (normalised) on any port? The denial says why not. */
export function nameReach(agent: CompiledAgent, host: string): NameReach {
  const ports = candidatePorts(agent, host);
  const resolvable: number[] = [];
  let denial: Decision | undefined;
  for (const port of ports) {
    const check = agent.checkName(host, port);
    if (check.kind === 'resolve') resolvable.push(port);
    // A rule's own denial says more than "nothing allows it": prefer it.
    else if (denial === undefined || (denial.rule === BUILT_IN_RULES.defaultDeny && check.decision.rule !== BUILT_IN_RULES.defaultDeny)) {
      denial = check.decision;
    }
  }
  if (resolvable.length > 0) return { kind: 'resolvable', ports: resolvable };
  return { kind: 'denied', decision: portFree(denial ?? { action: 'deny', rule: BUILT_IN_RULES.defaultDeny }, agent, host) };
}

/** Undefined when `address` may be handed out for `host`; otherwise the denial on the first port. */
export function vetAnswerAddress(agent: CompiledAgent, host: string, address: string, ports: readonly number[]): Decision | undefined {
  let first: Decision | undefined;
  for (const port of ports) {
    const decision = agent.decide({ host, addresses: [address], port });
    if (decision.action !== 'deny') return undefined;
    // An SSRF refusal is the one worth telling: it names the range.
    if (first === undefined || (decision.refusedAddress !== undefined && first.refusedAddress === undefined)) first = decision;
  }
  return first ?? { action: 'deny', rule: BUILT_IN_RULES.defaultDeny, reason: `${host} is not resolvable on any port` };
}

/** Undefined when a name of the CNAME chain may stand behind the queried name; else the rule's denial. */
export function vetChainName(agent: CompiledAgent, name: string, ports: readonly number[]): Decision | undefined {
  let first: Decision | undefined;
  for (const port of ports) {
    const check = agent.checkName(name, port);
    if (check.kind === 'resolve' || check.decision.rule === BUILT_IN_RULES.defaultDeny) return undefined;
    first ??= check.decision;
  }
  return first;
}

/** Port 1 and every port where a rule that could matter for `host` starts or stops covering. */
function candidatePorts(agent: CompiledAgent, host: string): number[] {
  const ports = new Set<number>([1]);
  const addRanges = (ranges: readonly PortRange[]): void => {
    for (const range of ranges) {
      if (range.from >= 1) ports.add(range.from);
      if (range.to + 1 <= MAX_PORT) ports.add(range.to + 1);
    }
  };
  const keys = hostKeys(host);
  if (keys !== undefined) for (const { rule } of agent.rules.hosts.rulesFor(keys)) addRanges(rule.ports);
  addRanges(agent.rules.reachableCidrPorts);
  return [...ports].sort((a, b) => a - b);
}

/** The default-deny reason names a port; for a DNS question it is "on any port". */
function portFree(decision: Decision, agent: CompiledAgent, host: string): Decision {
  if (decision.rule !== BUILT_IN_RULES.defaultDeny) return decision;
  return { ...decision, reason: `no rule lets agent ${agent.name} reach ${host} on any port; allowed: ${agent.allowedHint}` };
}
