import { describe, expect, it } from 'vitest';
import { checkGoals } from '../../../bench/goals.js';
import { ResultSet } from '../../../bench/results.js';

function resultsWith(figures: Array<[Parameters<ResultSet['record']>[0], string, number]>): ResultSet {
  const results = new ResultSet();
  for (const [metric, target, value] of figures) results.record(metric, target, { value });
  return results;
}

describe('checkGoals', () => {
  it('passes throughput at 0.7 × direct and fails below', () => {
    const throughputs = (chokepoint: number): ResultSet =>
      resultsWith([
        ['tunnelThroughput', 'direct', 1000],
        ['tunnelThroughput', 'chokepoint', chokepoint],
      ]);
    const at = checkGoals(throughputs(700), { status: 'missing' });
    const below = checkGoals(throughputs(699), { status: 'missing' });
    expect(at[0]?.verdict).toBe('pass');
    expect(below[0]?.verdict).toBe('fail');
  });

  it('wants higher rates but lower memory than Squid', () => {
    const checks = checkGoals(
      resultsWith([
        ['httpRequests', 'squid', 100],
        ['httpRequests', 'chokepoint', 120],
        ['idleTunnelMemory', 'squid', 30],
        ['idleTunnelMemory', 'chokepoint', 40],
      ]),
      { status: 'missing' },
    );
    expect(checks.find((check) => check.goal.startsWith('HTTP'))?.verdict).toBe('pass');
    expect(checks.find((check) => check.goal.startsWith('Memory'))?.verdict).toBe('fail');
  });

  it('says "not measured" when a side is missing', () => {
    const checks = checkGoals(resultsWith([['httpRequests', 'squid', 100]]), { status: 'failed', reason: 'x' });
    expect(checks.every((check) => check.verdict === 'not measured')).toBe(true);
  });

  it('checks the policy decision against 5 µs', () => {
    const fast = checkGoals(new ResultSet(), { status: 'measured', nsPerDecision: 4_999, raw: null }).at(-1);
    const slow = checkGoals(new ResultSet(), { status: 'measured', nsPerDecision: 5_000, raw: null }).at(-1);
    const unreadable = checkGoals(new ResultSet(), { status: 'measured', nsPerDecision: null, raw: {} }).at(-1);
    expect(fast?.verdict).toBe('pass');
    expect(slow?.verdict).toBe('fail');
    expect(unreadable?.verdict).toBe('not measured');
  });
});
