import { isSubdomainOf } from '../net/hostname.js';
import type { AgentFindings } from './collect.js';

/**
 * Turns candidate destinations into allow rules: one rule per host (its ports together), one `cidr` per
 * address, and `*.parent` for a parent of which several children were seen — never when a destination
 * under that parent is one that must not be suggested (the wildcard would allow it).
 */

/** How many distinct children of one parent make a `*.parent` rule. */
export const SIBLINGS_FOR_WILDCARD = 3;

export interface SuggestedRule {
  host?: string;
  cidr?: string;
  ports: number[];
  /** The destinations seen that the rule covers. */
  covers: string[];
  flows: number;
}

export function suggestRules(findings: AgentFindings): SuggestedRule[] {
  const hosts = new Map<string, { ports: Set<number>; flows: number }>();
  const rules: SuggestedRule[] = [];
  for (const candidate of findings.candidates.values()) {
    if (candidate.host === undefined) {
      const ip = candidate.ip ?? '';
      const existing = rules.find((rule) => rule.cidr === cidrOf(ip));
      if (existing) {
        existing.ports = [...new Set([...existing.ports, candidate.port])].sort((a, b) => a - b);
        existing.flows += candidate.flows;
      } else rules.push({ cidr: cidrOf(ip), ports: [candidate.port], covers: [ip], flows: candidate.flows });
      continue;
    }
    const entry = hosts.get(candidate.host) ?? { ports: new Set<number>(), flows: 0 };
    entry.ports.add(candidate.port);
    entry.flows += candidate.flows;
    hosts.set(candidate.host, entry);
  }
  const excludedHosts = [...findings.excluded.keys()].map((key) => key.slice(0, key.lastIndexOf(':')));
  const children = new Map<string, string[]>();
  for (const host of hosts.keys()) {
    const parent = host.slice(host.indexOf('.') + 1);
    // A parent of one label would be a top-level domain: `*.com` is never a suggestion.
    if (!host.includes('.') || !parent.includes('.')) continue;
    children.set(parent, [...(children.get(parent) ?? []), host]);
  }
  for (const [parent, members] of children) {
    if (members.length < SIBLINGS_FOR_WILDCARD) continue;
    if (excludedHosts.some((host) => host === parent || isSubdomainOf(host, parent))) continue;
    const ports = new Set<number>();
    let flows = 0;
    for (const member of members) {
      const entry = hosts.get(member);
      entry?.ports.forEach((port) => ports.add(port));
      flows += entry?.flows ?? 0;
      hosts.delete(member);
    }
    rules.push({ host: `*.${parent}`, ports: [...ports].sort((a, b) => a - b), covers: members.sort(), flows });
  }
  for (const [host, entry] of hosts) rules.push({ host, ports: [...entry.ports].sort((a, b) => a - b), covers: [host], flows: entry.flows });
  return rules.sort((a, b) => (a.host ?? a.cidr ?? '').localeCompare(b.host ?? b.cidr ?? ''));
}

function cidrOf(ip: string): string {
  return ip.includes(':') ? `${ip}/128` : `${ip}/32`;
}

/** The rule as one YAML flow-mapping list item, with what it covers as a comment. */
export function ruleLine(rule: SuggestedRule, indent: string): string {
  const target = rule.host !== undefined ? `host: ${rule.host.startsWith('*') ? `"${rule.host}"` : rule.host}` : `cidr: ${rule.cidr ?? ''}`;
  const seen = rule.covers.length > 1 || rule.host?.startsWith('*') ? `${rule.covers.join(', ')}; ` : '';
  return `${indent}- { ${target}, ports: [${rule.ports.join(', ')}] }  # suggested: ${seen}${rule.flows} flow${rule.flows === 1 ? '' : 's'}`;
}
