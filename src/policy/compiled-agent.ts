/**
 * One agent's policy, compiled: the matchers of every rule that can decide its flows (the global
 * denies and its own rules) and the two questions a flow asks of it.
 */
import type { CidrMatcher } from './cidr-matcher.js';
import { decideFlow, decideName, type NameCheck } from './decide.js';
import type { HostMatcher } from './host-matcher.js';
import type { AgentMode, Decision, DecisionTarget, PortRange } from './types.js';

export interface AgentRules {
  /** Host rules, global denies included; one lookup answers every slot. */
  hosts: HostMatcher;
  /** CIDR rules, global denies included; one lookup per address answers every slot. */
  cidrs: CidrMatcher;
  /** Merged ports of the agent's allow and alert CIDR rules: could resolving a name lead to an allow? */
  reachableCidrPorts: readonly PortRange[];
}

export class CompiledAgent {
  constructor(
    readonly name: string,
    readonly mode: AgentMode,
    readonly rules: AgentRules,
    /** The "allowed: …" part of default-deny reasons, built once (describe-allowed.ts). */
    readonly allowedHint: string,
    /** The built-in policy of unidentified clients when `unknownAgent` is "deny": refuse everything. */
    readonly denyAll = false,
  ) {}

  /**
   * Before DNS: judge the name alone. Either a final denial (the name is denied, or nothing this agent
   * has could allow it, so it is not even resolved) or `resolve`: resolve it, then call `decide`.
   */
  checkName(host: string, port: number): NameCheck {
    return decideName(this, host, port);
  }

  /**
   * The full decision, with `target.addresses` the resolved addresses (or the IP literal asked for).
   * Self-contained: it repeats the name checks, so calling it without `checkName` is equally safe.
   */
  decide(target: DecisionTarget): Decision {
    return decideFlow(this, target);
  }
}
