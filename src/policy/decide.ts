/**
 * The decision order, in one place:
 *
 *   1. global deny      a global deny rule matches the host or any address
 *   2. unknown agent    the built-in deny-all policy refuses everything
 *   3. agent deny       a deny rule matches the host or any address
 *   4. SSRF vetting     any address in a special range (loopback, private, metadata, …) refuses the
 *                       whole flow, unless an allow/alert CIDR rule on this port lies inside that range
 *                       and contains the address (a host rule or "0.0.0.0/0" never unlocks one)
 *   5. alert            an alert rule matches the host, or alert CIDR rules cover every address
 *   6. allow            the same with allow rules
 *   7. default deny     with a reason listing what the agent may reach instead
 *
 * Before DNS only the name can be judged (`decideName`); the rest needs the addresses. The agent's
 * matchers hold the global denies too and answer for every slot in one lookup, so a decision looks the
 * host and each address up once, then applies the order above to what was found.
 */
import type { CidrRule } from './cidr-matcher.js';
import type { CompiledAgent } from './compiled-agent.js';
import {
  defaultDenial,
  invalidAddressDenial,
  noAddressDenial,
  ruleDenial,
  ssrfDenial,
  unknownAgentDenial,
} from './decision-text.js';
import {
  matchAddresses,
  parseFlowAddresses,
  ruleForAllAddresses,
  ruleForAnyAddress,
  type AddressMatches,
} from './flow-addresses.js';
import { hostKeys, type HostKeys } from './host-keys.js';
import { portsCover } from './ports.js';
import { Matches, type SlottedRule } from './rule-buckets.js';
import { specialRangeOfJudged } from './special-range-index.js';
import type { Decision, DecisionTarget, Rule } from './types.js';

/** Outcome of judging a name before resolving it: refused for good, or worth resolving. */
export type NameCheck = { kind: 'denied'; decision: Decision } | { kind: 'resolve' };

const GLOBAL_SCOPE = 'every agent';

export function decideName(agent: CompiledAgent, requestedHost: string, port: number): NameCheck {
  const target: DecisionTarget = { host: requestedHost, addresses: [], port };
  const byHost = hostMatches(agent, hostKeys(requestedHost), port);
  if (byHost.global !== undefined) return denied(ruleDenial(byHost.global.rule, target, GLOBAL_SCOPE));
  if (agent.denyAll) return denied(unknownAgentDenial());
  if (byHost.deny !== undefined) return denied(ruleDenial(byHost.deny.rule, target, agentScope(agent)));
  const mayBeAllowed =
    byHost.alert !== undefined || byHost.allow !== undefined || portsCover(agent.rules.reachableCidrPorts, port);
  return mayBeAllowed ? { kind: 'resolve' } : denied(defaultDenial(agent.name, agent.allowedHint, target));
}

export function decideFlow(agent: CompiledAgent, target: DecisionTarget): Decision {
  const { port } = target;
  const host = hostKeys(target.host);
  const addresses = parseFlowAddresses(target.addresses);
  if ('invalid' in addresses) return invalidAddressDenial(addresses.invalid);
  const byHost = hostMatches(agent, host, port);
  const byAddress = matchAddresses(agent.rules.cidrs, addresses, port);

  const globalRule = byHost.global?.rule ?? ruleForAnyAddress(byAddress, 'global');
  if (globalRule !== undefined) return ruleDenial(globalRule, target, GLOBAL_SCOPE);
  if (agent.denyAll) return unknownAgentDenial();
  const denyRule = byHost.deny?.rule ?? ruleForAnyAddress(byAddress, 'deny');
  if (denyRule !== undefined) return ruleDenial(denyRule, target, agentScope(agent));
  if (addresses.length === 0) return noAddressDenial(target);

  const refusal = vetSpecialAddresses(agent, host, byAddress);
  if (refusal !== undefined) return refusal;

  const alertRule = byHost.alert?.rule ?? ruleForAllAddresses(byAddress, 'alert');
  if (alertRule !== undefined) return ruleDecision('alert', alertRule);
  const allowRule = byHost.allow?.rule ?? ruleForAllAddresses(byAddress, 'allow');
  if (allowRule !== undefined) return ruleDecision('allow', allowRule);
  return defaultDenial(agent.name, agent.allowedHint, target);
}

function hostMatches(agent: CompiledAgent, host: HostKeys | undefined, port: number): Matches<SlottedRule> {
  return host === undefined ? new Matches<SlottedRule>(port) : agent.rules.hosts.match(host, port);
}

/** Step 4: the first address in a special range that no inside-the-range CIDR rule unlocks. */
function vetSpecialAddresses(
  agent: CompiledAgent,
  host: HostKeys | undefined,
  byAddress: readonly AddressMatches[],
): Decision | undefined {
  for (const { address, judged } of byAddress) {
    const range = specialRangeOfJudged(address.judged);
    if (range === undefined) continue;
    // The matches hold the longest alert / allow rule containing the judged address: if that one does
    // not lie inside the range (prefix at least the range's), no rule does.
    const unlocked = liesInside(judged.alert, range.prefix) || liesInside(judged.allow, range.prefix);
    if (!unlocked) return ssrfDenial(agent.name, host?.name, address.text, range);
  }
  return undefined;
}

/** A rule containing an address of a range lies inside the range when it is at least as long. */
function liesInside(entry: CidrRule | undefined, rangePrefix: number): boolean {
  return entry !== undefined && entry.prefix >= rangePrefix;
}

function ruleDecision(action: 'allow' | 'alert', rule: Rule): Decision {
  return rule.reason === undefined ? { action, rule: rule.id } : { action, rule: rule.id, reason: rule.reason };
}

function denied(decision: Decision): NameCheck {
  return { kind: 'denied', decision };
}

function agentScope(agent: CompiledAgent): string {
  return `agent ${agent.name}`;
}
