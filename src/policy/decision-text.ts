/**
 * Building the decisions that deny, with their rule ids and their reasons. Reasons are written for
 * the agent that reads the 403 body or the SSH disconnect text: they say what was refused, why, and
 * (for the default deny) what the agent may reach instead.
 */
import type { Decision, DecisionTarget, Rule } from './types.js';

/** Synthetic rule ids of decisions no written rule made. */
export const BUILT_IN_RULES = {
  defaultDeny: 'default-deny',
  unknownAgent: 'unknown-agent',
  /** The name resolved to nothing, so there is nothing that could be vetted and dialed. */
  noAddress: 'no-address',
  /** The caller passed an address that is not an IP address: fail closed. */
  invalidAddress: 'invalid-address',
} as const;

/** What SSRF vetting reports about the special range an address fell in (see net/special-ranges.ts). */
export interface RefusedRange {
  name: string;
  cidr: string;
  /** A predicate about the address: "is a loopback address (the proxy host itself)". */
  reason: string;
}

export function ssrfRuleId(rangeName: string): string {
  return `ssrf.${rangeName}`;
}

/** "github.com:443", "10.0.0.1:22", "[2001:db8::1]:443": the destination as the agent asked for it. */
function describeTarget(target: DecisionTarget): string {
  const where = target.host ?? target.addresses[0];
  if (where === undefined) return `port ${target.port}`;
  return where.includes(':') ? `[${where}]:${target.port}` : `${where}:${target.port}`;
}

/** `scope` is who the rule applies to: "every agent" for global denies, "agent coder-7" otherwise. */
export function ruleDenial(rule: Rule, target: DecisionTarget, scope: string): Decision {
  const reason = rule.reason ?? `${describeTarget(target)} is denied for ${scope} by rule ${rule.id}`;
  return { action: 'deny', rule: rule.id, reason };
}

export function unknownAgentDenial(): Decision {
  return {
    action: 'deny',
    rule: BUILT_IN_RULES.unknownAgent,
    reason: 'this client is not identified as any agent, so all egress is denied',
  };
}

export function defaultDenial(agentName: string, allowedHint: string, target: DecisionTarget): Decision {
  return {
    action: 'deny',
    rule: BUILT_IN_RULES.defaultDeny,
    reason: `no rule allows ${describeTarget(target)} for agent ${agentName}; allowed: ${allowedHint}`,
  };
}

export function ssrfDenial(
  agentName: string,
  host: string | undefined,
  address: string,
  range: RefusedRange,
): Decision {
  // range.reason reads as a predicate: "is a private network address (RFC 1918 / unique local)".
  const subject = host === undefined ? address : `${host} resolves to ${address}, which`;
  return {
    action: 'deny',
    rule: ssrfRuleId(range.name),
    reason:
      `${subject} ${range.reason}; agent ${agentName} may reach addresses in ${range.cidr} only through ` +
      'a cidr rule that lies inside that range',
    refusedAddress: { address, range: range.name },
  };
}

export function noAddressDenial(target: DecisionTarget): Decision {
  const reason = `${describeTarget(target)} did not resolve to any address`;
  return { action: 'deny', rule: BUILT_IN_RULES.noAddress, reason };
}

export function invalidAddressDenial(text: string): Decision {
  return { action: 'deny', rule: BUILT_IN_RULES.invalidAddress, reason: `"${text}" is not an IP address` };
}
