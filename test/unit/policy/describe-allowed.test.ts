import { describe, expect, it } from 'vitest';
import { describeAllowed } from '../../../src/policy/describe-allowed.js';
import { rule } from './policy-fixtures.js';

describe('describeAllowed', () => {
  it('lists allow and alert patterns with their ports, skipping deny rules', () => {
    const rules = [
      rule('allow', '*.github.com', '443'),
      rule('deny', 'evil.example', '*'),
      rule('alert', '10.20.0.0/16', '5432'),
      rule('allow', '2606:4700::/32', '80,443'),
      rule('allow', 'builds.example', '*'),
    ];
    expect(describeAllowed(rules)).toBe(
      '*.github.com:443, 10.20.0.0/16:5432, [2606:4700::/32]:80,443, builds.example:*',
    );
  });

  it('shows the first few and counts the rest', () => {
    const rules = ['a', 'b', 'c', 'd'].map((name) => rule('allow', `${name}.example`, '443'));
    expect(describeAllowed(rules, 2)).toBe('a.example:443, b.example:443, … (2 more)');
  });

  it('says when nothing is allowed', () => {
    expect(describeAllowed([rule('deny', '*', '*')])).toBe('nothing (this agent has no allow rules)');
  });
});
