import { describe, expect, it } from 'vitest';
import { median, ratio } from '../../../bench/stats.js';

describe('median', () => {
  it('takes the middle value, or the mean of the two middle ones', () => {
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(2.5);
  });

  it('ignores non-finite values and returns null when nothing is left', () => {
    expect(median([Number.NaN, 2, Infinity])).toBe(2);
    expect(median([])).toBeNull();
    expect(median([Number.NaN])).toBeNull();
  });

  it('does not reorder its input', () => {
    const values = [3, 1, 2];
    median(values);
    expect(values).toEqual([3, 1, 2]);
  });
});

describe('ratio', () => {
  it('divides, and is null for a missing side or a zero divisor', () => {
    expect(ratio(3, 4)).toBe(0.75);
    expect(ratio(null, 4)).toBeNull();
    expect(ratio(3, null)).toBeNull();
    expect(ratio(3, 0)).toBeNull();
  });
});
