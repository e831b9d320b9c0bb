import { describe, expect, it } from 'vitest';
import { retryDelay } from '../../../src/sinks/queued-sink.js';

describe('retryDelay', () => {
  it('is the fixed wait for local destinations (no maximum)', () => {
    expect([1, 2, 10].map((failures) => retryDelay(failures, 1_000, undefined))).toEqual([1_000, 1_000, 1_000]);
  });

  it('doubles per failure in a row up to the maximum, never below the base', () => {
    const top = (failures: number): number => retryDelay(failures, 1_000, 30_000, () => 1);
    const bottom = (failures: number): number => retryDelay(failures, 1_000, 30_000, () => 0);
    expect([1, 2, 3, 4, 5, 6, 7, 50].map(top)).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000]);
    expect([1, 2, 3, 6].map(bottom)).toEqual([1_000, 1_000, 2_000, 15_000]);
  });

  it('spreads reconnecting proxies over half the step (jitter)', () => {
    const delays = [0, 0.25, 0.5, 0.75].map((random) => retryDelay(5, 1_000, 30_000, () => random));
    expect(delays).toEqual([8_000, 10_000, 12_000, 14_000]);
  });
});
