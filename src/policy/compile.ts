/**
 * RuleSet → CompiledPolicy, once per (re)load. Every lookup table is built here so that a decision is
 * a handful of hash lookups whatever the number of rules.
 *
 * The RuleSet is expected to be validated already (src/config/), but compiling re-checks what the
 * matchers rely on and reports problems instead of throwing or silently dropping a rule: a dropped
 * deny rule would fail open.
 */
import { parseCidr } from '../net/address.js';
import { addressBits, type AddressBits } from './address-bits.js';
import { CidrMatcher, type CidrRule } from './cidr-matcher.js';
import { CompiledAgent, type AgentRules } from './compiled-agent.js';
import { describeAllowed } from './describe-allowed.js';
import { HostMatcher, hostPatternProblem } from './host-matcher.js';
import { mergePortRanges, portRangeProblems } from './ports.js';
import type { SlottedRule } from './rule-buckets.js';
import type { Rule, RuleList, RuleSet } from './types.js';

/** `RuleSet.unknownAgent` value that selects the built-in deny-all policy. */
export const UNKNOWN_AGENT_DENY = 'deny';
/** Name of the built-in deny-all policy. */
export const BUILT_IN_UNKNOWN_AGENT = 'unknown';

export type CompileResult = { ok: true; policy: CompiledPolicy } | { ok: false; errors: string[] };

export class CompiledPolicy {
  constructor(
    private readonly agents: ReadonlyMap<string, CompiledAgent>,
    /** The policy of clients no agent claims: the named agent, or the built-in deny-all. */
    readonly unknownAgent: CompiledAgent,
  ) {}

  /** The agent's compiled policy; undefined when no agent has that name (use `unknownAgent`). */
  agent(name: string): CompiledAgent | undefined {
    return this.agents.get(name);
  }

  get agentNames(): string[] {
    return [...this.agents.keys()];
  }
}

export function compilePolicy(ruleSet: RuleSet): CompileResult {
  const errors: string[] = [];
  const globalDeny = compileRules(ruleSet.globalDeny, 'global deny', errors);
  for (const { rule } of globalDeny) {
    if (rule.list !== 'deny') errors.push(`global deny: rule ${rule.id} is in list "${rule.list}", not "deny"`);
  }
  const agents = new Map<string, CompiledAgent>();
  for (const policy of ruleSet.agents) {
    if (agents.has(policy.name)) errors.push(`agent ${policy.name}: defined twice`);
    const own = compileRules(policy.rules, `agent ${policy.name}`, errors);
    const rules = agentRules(globalDeny, own);
    agents.set(policy.name, new CompiledAgent(policy.name, policy.mode, rules, describeAllowed(policy.rules)));
  }
  const unknownAgent = unknownAgentPolicy(ruleSet.unknownAgent, agents, globalDeny, errors);
  if (errors.length > 0 || unknownAgent === undefined) return { ok: false, errors };
  return { ok: true, policy: new CompiledPolicy(agents, unknownAgent) };
}

function unknownAgentPolicy(
  setting: string,
  agents: ReadonlyMap<string, CompiledAgent>,
  globalDeny: readonly CompiledRule[],
  errors: string[],
): CompiledAgent | undefined {
  if (setting === UNKNOWN_AGENT_DENY) {
    const rules = agentRules(globalDeny, []);
    return new CompiledAgent(BUILT_IN_UNKNOWN_AGENT, 'enforce', rules, describeAllowed([]), true);
  }
  const named = agents.get(setting);
  if (named === undefined) errors.push(`unknownAgent names agent "${setting}", which is not defined`);
  return named;
}

/** A rule that passed the checks, with its CIDR parsed when it has one. */
interface CompiledRule {
  rule: Rule;
  network?: { bits: AddressBits; prefix: number };
}

const RULE_LISTS: readonly string[] = ['allow', 'alert', 'deny'] satisfies RuleList[];

/** Rules in file order → the usable ones; problems go to `errors` with `where` and the rule's source. */
function compileRules(rules: readonly Rule[], where: string, errors: string[]): CompiledRule[] {
  const compiled: CompiledRule[] = [];
  for (const rule of rules) {
    const problems = portRangeProblems(rule.ports);
    if (!RULE_LISTS.includes(rule.list)) problems.push(`has unknown list "${rule.list}"`);
    let network: CompiledRule['network'];
    if (rule.host !== undefined && rule.cidr === undefined) {
      const problem = hostPatternProblem(rule.host);
      if (problem !== undefined) problems.push(problem);
    } else if (rule.cidr !== undefined && rule.host === undefined) {
      // parseCidr already rewrites IPv6 spellings of an IPv4 block ("::ffff:10.0.0.0/104", NAT64) as that
      // IPv4 block, the space addresses are judged in, so such rules meet the IPv4 addresses they name.
      const parsed = parseCidr(rule.cidr);
      if ('error' in parsed) problems.push(`has an invalid cidr: ${parsed.error}`);
      else network = { bits: addressBits(parsed.address), prefix: parsed.prefix };
    } else {
      problems.push('must have exactly one of host or cidr');
    }
    const at = rule.source === undefined ? where : `${where} (${rule.source.file}:${rule.source.line})`;
    for (const problem of problems) errors.push(`${at}: rule ${rule.id} ${problem}`);
    if (problems.length === 0) compiled.push(network === undefined ? { rule } : { rule, network });
  }
  return compiled;
}

/** The matchers of one agent: the global denies (slot `global`) and its own rules (slot = their list). */
function agentRules(globalDeny: readonly CompiledRule[], own: readonly CompiledRule[]): AgentRules {
  const inSlots = [
    ...globalDeny.map((compiled) => ({ ...compiled, slot: 'global' as const })),
    ...own.map((compiled) => ({ ...compiled, slot: compiled.rule.list })),
  ];
  const hostRules: SlottedRule[] = [];
  const cidrRules: CidrRule[] = [];
  for (const { rule, network, slot } of inSlots) {
    if (network === undefined) hostRules.push({ rule, slot });
    else cidrRules.push({ rule, slot, network: network.bits, prefix: network.prefix });
  }
  const reachable = cidrRules.filter((entry) => entry.slot === 'alert' || entry.slot === 'allow');
  return {
    hosts: new HostMatcher(hostRules),
    cidrs: new CidrMatcher(cidrRules),
    reachableCidrPorts: mergePortRanges(reachable.flatMap((entry) => entry.rule.ports)),
  };
}
