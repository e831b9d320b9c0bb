import type { IdentityIndex } from '../identity/identify.js';
import type { NameReach } from '../policy/name-reach.js';
import type { AgentPolicy, Decision, DecisionTarget, Rule, RuleSet } from '../policy/types.js';

/**
 * Everything the pipeline consults to decide, built from one RuleSet and swapped as a whole on reload:
 * a flow is always judged against one consistent version of the rules.
 */
export interface PolicySnapshot {
  readonly ruleSet: RuleSet;
  readonly identities: IdentityIndex;
  /** The policy unidentified clients get (`unknown_agent`), possibly the built-in deny-all. */
  readonly unknownAgent: AgentPolicy;
  /** Name phase, before DNS: a final decision (deny), or undefined to go on and resolve. */
  decideName(agent: AgentPolicy, host: string, port: number): Decision | undefined;
  /** Address phase: the final decision once every address of the target is known. */
  decideAddresses(agent: AgentPolicy, target: DecisionTarget): Decision;
  /** The rule with this id (to read its `protocols`), undefined for built-in decisions. */
  ruleById(id: string): Rule | undefined;
  /** Re-identifies an agent by name after a reload (flows remember their agent by name). */
  agentNamed(name: string): AgentPolicy | undefined;
  /** DNS questions (no port): may the agent resolve this name, and what may an answer hand out? */
  dnsView(agent: AgentPolicy): DnsPolicyView;
}

/** The DNS listener's view of one agent's compiled policy (see policy/name-reach.ts). */
export interface DnsPolicyView {
  reach(host: string): NameReach;
  /** Undefined when the address may be handed out for `host`; otherwise why not. */
  vetAddress(host: string, address: string, ports: readonly number[]): Decision | undefined;
  /** Undefined when `name` may stand in the CNAME chain behind an allowed name; otherwise why not. */
  vetChainName(name: string, ports: readonly number[]): Decision | undefined;
}
