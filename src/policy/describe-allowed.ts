/**
 * The "what you may reach instead" part of a default-deny reason. An agent (often a model) reads the
 * denial and should learn from it, so the hint lists the agent's allow and alert patterns with their
 * ports: "*.github.com:443, github.com:22, 10.20.0.0/16:5432, … (12 more)". Only the first few, so a
 * large policy neither floods the agent nor leaks the whole rule file into every denial.
 */
import { formatPorts } from './ports.js';
import type { Rule } from './types.js';

export const ALLOWED_HINT_LIMIT = 5;

export function describeAllowed(rules: readonly Rule[], limit = ALLOWED_HINT_LIMIT): string {
  const reachable = rules.filter((rule) => rule.list === 'allow' || rule.list === 'alert');
  if (reachable.length === 0) return 'nothing (this agent has no allow rules)';
  const shown = reachable.slice(0, limit).map(describeRule);
  const hidden = reachable.length - shown.length;
  return hidden > 0 ? `${shown.join(', ')}, … (${hidden} more)` : shown.join(', ');
}

function describeRule(rule: Rule): string {
  const ports = formatPorts(rule.ports);
  if (rule.host !== undefined) return `${rule.host}:${ports}`;
  const cidr = rule.cidr ?? '?';
  // An IPv6 network already contains colons; brackets keep its port readable.
  return cidr.includes(':') ? `[${cidr}]:${ports}` : `${cidr}:${ports}`;
}
