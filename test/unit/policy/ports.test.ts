import { describe, expect, it } from 'vitest';
import { formatPorts, mergePortRanges, portRangeProblems, portsCover } from '../../../src/policy/ports.js';
import { ports } from './policy-fixtures.js';

describe('portsCover', () => {
  it('covers the bounds of an inclusive range and nothing outside', () => {
    const ranges = ports('80,8000-8999');
    expect([80, 8000, 8500, 8999].map((p) => portsCover(ranges, p))).toEqual([true, true, true, true]);
    expect([79, 81, 7999, 9000].map((p) => portsCover(ranges, p))).toEqual([false, false, false, false]);
  });

  it('covers nothing for a port that is not a number or for no ranges', () => {
    expect(portsCover(ports('*'), Number.NaN)).toBe(false);
    expect(portsCover([], 443)).toBe(false);
  });
});

describe('mergePortRanges', () => {
  it('sorts, joins overlapping and adjacent ranges, and keeps gaps', () => {
    expect(mergePortRanges(ports('443,80,81-90,85-100,8080'))).toEqual(ports('80-100,443,8080'));
  });

  it('does not modify its input', () => {
    const input = ports('80-90,85-100');
    mergePortRanges(input);
    expect(input).toEqual(ports('80-90,85-100'));
  });
});

describe('formatPorts', () => {
  it('writes single ports, ranges and "*" for any port', () => {
    expect(formatPorts(ports('443'))).toBe('443');
    expect(formatPorts(ports('443,80'))).toBe('80,443');
    expect(formatPorts(ports('8000-8999'))).toBe('8000-8999');
    expect(formatPorts(ports('1-100,101-65535'))).toBe('*');
  });
});

describe('portRangeProblems', () => {
  it('accepts valid ranges and reports empty, reversed, fractional or out-of-range ones', () => {
    expect(portRangeProblems(ports('80,443,1000-2000'))).toEqual([]);
    expect(portRangeProblems([])).toEqual(['has no ports']);
    expect(portRangeProblems([{ from: 90, to: 80 }])).toHaveLength(1);
    expect(portRangeProblems([{ from: 1.5, to: 80 }])).toHaveLength(1);
    expect(portRangeProblems([{ from: 1, to: 70000 }])).toHaveLength(1);
  });
});
