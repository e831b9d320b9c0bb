import { describe, expect, it } from 'vitest';
import { compilePolicy } from '../../../src/policy/compile.js';
import type { Rule } from '../../../src/policy/types.js';
import { agentPolicy, rule, ruleSet } from './policy-fixtures.js';

function errorsOf(rules: Rule[], unknownAgent = 'deny'): string[] {
  const result = compilePolicy(ruleSet([agentPolicy('coder-7', rules)], [], unknownAgent));
  return result.ok ? [] : result.errors;
}

describe('compilePolicy', () => {
  it('compiles a valid rule set and looks agents up by name', () => {
    const agents = [agentPolicy('coder-7', [rule('allow', 'github.com', '443')]), agentPolicy('trainer', [])];
    const result = compilePolicy(ruleSet(agents));
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.policy.agentNames).toEqual(['coder-7', 'trainer']);
    expect(result.policy.agent('trainer')?.name).toBe('trainer');
    expect(result.policy.agent('coder-7')?.mode).toBe('enforce');
  });

  it('reports rules it cannot compile, with their id and source, instead of dropping them', () => {
    const broken = rule('deny', '10.0.0.0/33', '*', { id: 'r1', source: { file: 'agents/coder.yaml', line: 12 } });
    expect(errorsOf([broken])).toEqual([
      'agent coder-7 (agents/coder.yaml:12): rule r1 has an invalid cidr: "33" is not a prefix length between 0 and 32',
    ]);
  });

  it('reports a rule with both or neither of host and cidr, bad host patterns and missing ports', () => {
    const errors = errorsOf([
      { id: 'both', list: 'allow', host: 'a.example', cidr: '10.0.0.0/8', ports: [{ from: 443, to: 443 }] },
      { id: 'neither', list: 'allow', ports: [{ from: 443, to: 443 }] },
      rule('allow', 'api.*.example', '443', { id: 'star' }),
      rule('deny', 'a.example', '443', { id: 'noports', ports: [] }),
    ]);
    expect(errors).toHaveLength(4);
    expect(errors[0]).toMatch(/rule both must have exactly one of host or cidr/);
    expect(errors[1]).toMatch(/rule neither must have exactly one of host or cidr/);
    expect(errors[2]).toMatch(/rule star host pattern/);
    expect(errors[3]).toMatch(/rule noports has no ports/);
  });

  it('reports global deny rules it cannot compile', () => {
    const result = compilePolicy(ruleSet([], [rule('deny', 'not a cidr/8', '*', { id: 'g' })]));
    expect(result.ok ? [] : result.errors).toEqual([
      'global deny: rule g has an invalid cidr: "not a cidr" is not a dotted-decimal IPv4 or an IPv6 address',
    ]);
  });

  it('refuses a global rule that is not a deny rule rather than treating it as one', () => {
    const result = compilePolicy(ruleSet([], [rule('allow', 'github.com', '443', { id: 'g' })]));
    expect(result.ok ? [] : result.errors).toEqual(['global deny: rule g is in list "allow", not "deny"']);
  });

  it('reports an unknownAgent setting that names no agent, and duplicate agents', () => {
    expect(errorsOf([], 'ghost')).toEqual(['unknownAgent names agent "ghost", which is not defined']);
    const twice = compilePolicy(ruleSet([agentPolicy('a', []), agentPolicy('a', [])]));
    expect(twice.ok ? [] : twice.errors).toEqual(['agent a: defined twice']);
  });
});
