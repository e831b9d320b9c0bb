import { IdentityIndex } from '../identity/identify.js';
import { compilePolicy, type CompiledPolicy } from '../policy/compile.js';
import type { CompiledAgent } from '../policy/compiled-agent.js';
import { nameReach, vetAnswerAddress, vetChainName } from '../policy/name-reach.js';
import type { AgentPolicy, Decision, DecisionTarget, Rule, RuleSet } from '../policy/types.js';
import type { DnsPolicyView, PolicySnapshot } from './policy-snapshot.js';

/** Compiles a validated RuleSet into the snapshot the pipeline decides with. */
export function buildSnapshot(ruleSet: RuleSet): { ok: true; snapshot: PolicySnapshot } | { ok: false; errors: string[] } {
  const compiled = compilePolicy(ruleSet);
  if (!compiled.ok) return compiled;
  return { ok: true, snapshot: new CompiledSnapshot(ruleSet, compiled.policy) };
}

class CompiledSnapshot implements PolicySnapshot {
  readonly identities: IdentityIndex;
  readonly unknownAgent: AgentPolicy;
  private readonly policies = new Map<string, AgentPolicy>();
  private readonly rules = new Map<string, Rule>();

  constructor(
    readonly ruleSet: RuleSet,
    private readonly compiled: CompiledPolicy,
  ) {
    this.identities = new IdentityIndex(ruleSet);
    for (const agent of ruleSet.agents) {
      this.policies.set(agent.name, agent);
      for (const rule of agent.rules) this.rules.set(rule.id, rule);
    }
    for (const rule of ruleSet.globalDeny) this.rules.set(rule.id, rule);
    const unknown = compiled.unknownAgent;
    this.unknownAgent = this.policies.get(unknown.name) ?? {
      name: unknown.name,
      mode: unknown.mode,
      sources: [],
      credentials: [],
      rules: [],
    };
  }

  decideName(agent: AgentPolicy, host: string, port: number): Decision | undefined {
    const check = this.compiledAgent(agent).checkName(host, port);
    return check.kind === 'denied' ? check.decision : undefined;
  }

  decideAddresses(agent: AgentPolicy, target: DecisionTarget): Decision {
    return this.compiledAgent(agent).decide(target);
  }

  ruleById(id: string): Rule | undefined {
    return this.rules.get(id);
  }

  agentNamed(name: string): AgentPolicy | undefined {
    return this.policies.get(name);
  }

  dnsView(agent: AgentPolicy): DnsPolicyView {
    const compiled = this.compiledAgent(agent);
    return {
      reach: (host) => nameReach(compiled, host),
      vetAddress: (host, address, ports) => vetAnswerAddress(compiled, host, address, ports),
      vetChainName: (name, ports) => vetChainName(compiled, name, ports),
    };
  }

  private compiledAgent(agent: AgentPolicy): CompiledAgent {
    return this.compiled.agent(agent.name) ?? this.compiled.unknownAgent;
  }
}
