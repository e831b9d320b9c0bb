/** Small builders for policy tests: rules and rule sets written the way config loading produces them. */
import { compilePolicy, type CompiledPolicy } from '../../../src/policy/compile.js';
import type { CompiledAgent } from '../../../src/policy/compiled-agent.js';
import {
  DEFAULT_DETECTION_ACTIONS,
  type AgentPolicy,
  type PortRange,
  type Rule,
  type RuleList,
  type RuleSet,
} from '../../../src/policy/types.js';

/** "443", "80,443", "8000-8999", "*" → port ranges. */
export function ports(text: string): PortRange[] {
  if (text === '*') return [{ from: 1, to: 65535 }];
  return text.split(',').map((part) => {
    const [from = '', to = from] = part.split('-');
    return { from: Number(from), to: Number(to) };
  });
}

let nextId = 0;

/** A rule from a host pattern or a CIDR (anything with "/" is a CIDR). */
export function rule(list: RuleList, target: string, portText: string, extra: Partial<Rule> = {}): Rule {
  const where = target.includes('/') ? { cidr: target } : { host: target };
  return { id: `${list}.${nextId++}`, list, ...where, ports: ports(portText), ...extra };
}

export function agentPolicy(name: string, rules: Rule[]): AgentPolicy {
  return { name, mode: 'enforce', sources: [], credentials: [], rules };
}

export function ruleSet(agents: AgentPolicy[], globalDeny: Rule[] = [], unknownAgent = 'deny'): RuleSet {
  const detectionActions = { ...DEFAULT_DETECTION_ACTIONS };
  return { globalDeny, unknownAgent, requireCredentials: false, agents, detectionActions };
}

export function compiled(set: RuleSet): CompiledPolicy {
  const result = compilePolicy(set);
  if (!result.ok) throw new Error(`fixture does not compile: ${result.errors.join('; ')}`);
  return result.policy;
}

/** The compiled policy of the single agent "coder-7" with `rules` (and optional global denies). */
export function coder(rules: Rule[], globalDeny: Rule[] = []): CompiledAgent {
  const agent = compiled(ruleSet([agentPolicy('coder-7', rules)], globalDeny)).agent('coder-7');
  if (agent === undefined) throw new Error('coder-7 missing');
  return agent;
}
