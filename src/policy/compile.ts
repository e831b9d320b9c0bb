/**
 * RuleSet → CompiledPolicy, once per (re)load. Every lookup table is built here so that a decision is
 * a handful of hash lookups whatever the number of rules.
 *
 * The RuleSet is expected to be validated already (src/config/), but compiling re-checks what the
 * matchers rely on and reports problems instead of throwing or silently dropping a rule: a dropped
 * deny rule would fail open.
 */
import { parseCidr } from '../net/address.js';
import { addressBits } from './address-bits.js';
import { CidrMatcher, type CidrRule } from './cidr-matcher.js';
import { CompiledAgent, type AgentRules, type RuleIndex } from './compiled-agent.js';
import { describeAllowed } from './describe-allowed.js';
import { HostMatcher, hostPatternProblem } from './host-matcher.js';
import { mergePortRanges, portRangeProblems } from './ports.js';
import type { AgentPolicy, Rule, RuleList, RuleSet } from './types.js';

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
  const globalRules = compileRules(ruleSet.globalDeny, 'global deny', errors);
  for (const { rule } of globalRules) {
    if (rule.list !== 'deny') errors.push(`global deny: rule ${rule.id} is in list "${rule.list}", not "deny"`);
  }
  const globalDeny = ruleIndex(globalRules);
  const agents = new Map<string, CompiledAgent>();
  for (const policy of ruleSet.agents) {
    if (agents.has(policy.name)) errors.push(`agent ${policy.name}: defined twice`);
    agents.set(policy.name, compileAgent(policy, globalDeny, errors));
  }
  const unknownAgent = unknownAgentPolicy(ruleSet.unknownAgent, agents, globalDeny, errors);
  if (errors.length > 0 || unknownAgent === undefined) return { ok: false, errors };
  return { ok: true, policy: new CompiledPolicy(agents, unknownAgent) };
}

function compileAgent(policy: AgentPolicy, globalDeny: RuleIndex, errors: string[]): CompiledAgent {
  const rules = compileRules(policy.rules, `agent ${policy.name}`, errors);
  const reachableCidrPorts = mergePortRanges(
    rules.flatMap(({ rule, cidr }) => (cidr !== undefined && rule.list !== 'deny' ? rule.ports : [])),
  );
  const compiled: AgentRules = { globalDeny, own: ruleIndex(rules), reachableCidrPorts };
  return new CompiledAgent(policy.name, policy.mode, compiled, describeAllowed(policy.rules));
}

function unknownAgentPolicy(
  setting: string,
  agents: ReadonlyMap<string, CompiledAgent>,
  globalDeny: RuleIndex,
  errors: string[],
): CompiledAgent | undefined {
  if (setting === UNKNOWN_AGENT_DENY) {
    const rules: AgentRules = { globalDeny, own: ruleIndex([]), reachableCidrPorts: [] };
    return new CompiledAgent(BUILT_IN_UNKNOWN_AGENT, 'enforce', rules, describeAllowed([]), true);
  }
  const named = agents.get(setting);
  if (named === undefined) errors.push(`unknownAgent names agent "${setting}", which is not defined`);
  return named;
}

/** A rule ready for the matchers: a host rule as written, or a CIDR rule with its network parsed. */
interface CompiledRule {
  rule: Rule;
  cidr?: CidrRule;
}

const RULE_LISTS: readonly string[] = ['allow', 'alert', 'deny'] satisfies RuleList[];

/** Rules in file order → the usable ones; problems go to `errors` with `where` and the rule's source. */
function compileRules(rules: readonly Rule[], where: string, errors: string[]): CompiledRule[] {
  const compiled: CompiledRule[] = [];
  for (const rule of rules) {
    const problems = portRangeProblems(rule.ports);
    if (!RULE_LISTS.includes(rule.list)) problems.push(`has unknown list "${rule.list}"`);
    let cidr: CidrRule | undefined;
    if (rule.host !== undefined && rule.cidr === undefined) {
      const problem = hostPatternProblem(rule.host);
      if (problem !== undefined) problems.push(problem);
    } else if (rule.cidr !== undefined && rule.host === undefined) {
      const parsed = cidrRuleOf(rule, rule.cidr);
      if ('error' in parsed) problems.push(parsed.error);
      else cidr = parsed;
    } else {
      problems.push('must have exactly one of host or cidr');
    }
    const at = rule.source === undefined ? where : `${where} (${rule.source.file}:${rule.source.line})`;
    for (const problem of problems) errors.push(`${at}: rule ${rule.id} ${problem}`);
    if (problems.length === 0) compiled.push(cidr === undefined ? { rule } : { rule, cidr });
  }
  return compiled;
}

function ruleIndex(rules: readonly CompiledRule[]): RuleIndex {
  const hostRules = rules.flatMap(({ rule, cidr }) => (cidr === undefined ? [rule] : []));
  const cidrRules = rules.flatMap(({ cidr }) => (cidr === undefined ? [] : [cidr]));
  return { hosts: new HostMatcher(hostRules), cidrs: new CidrMatcher(cidrRules) };
}

/**
 * parseCidr already rewrites IPv6 spellings of an IPv4 block ("::ffff:10.0.0.0/104", NAT64) as that
 * IPv4 block, the space addresses are judged in, so such rules meet the IPv4 addresses they name.
 */
function cidrRuleOf(rule: Rule, cidr: string): CidrRule | { error: string } {
  const parsed = parseCidr(cidr);
  if ('error' in parsed) return { error: `has an invalid cidr: ${parsed.error}` };
  return { rule, network: addressBits(parsed.address), prefix: parsed.prefix };
}
