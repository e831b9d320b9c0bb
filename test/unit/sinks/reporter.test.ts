import { describe, expect, it } from 'vitest';
import type { EventInput } from '../../../src/events/types.js';
import { SinkReporter } from '../../../src/sinks/reporter.js';

/** Collects reports and lets a test wait for the n-th one. */
function collect(): { reports: EventInput[]; emit: (input: EventInput) => void; nth: (n: number) => Promise<void> } {
  const reports: EventInput[] = [];
  const waiters: Array<{ n: number; resolve: () => void }> = [];
  return {
    reports,
    emit: (input) => {
      reports.push(input);
      for (const waiter of waiters.filter((w) => reports.length >= w.n)) waiter.resolve();
    },
    nth: (n) => (reports.length >= n ? Promise.resolve() : new Promise((resolve) => waiters.push({ n, resolve }))),
  };
}

describe('SinkReporter', () => {
  it('reports the first failure on the next turn and the failures of the following interval as one event with their count', async () => {
    const { reports, emit, nth } = collect();
    const reporter = new SinkReporter('s', emit, 50);
    reporter.error('failure 0');
    // Nothing inside the caller: reports come on a later turn.
    expect(reports).toHaveLength(0);
    await nth(1);
    // Within the interval: counted, reported together when it ends.
    for (let i = 1; i < 100; i += 1) reporter.error(`failure ${i}`);
    expect(reports).toHaveLength(1);
    await nth(2);
    expect(reports.map((report) => report.name)).toEqual(['sink.error', 'sink.error']);
    expect(reports.map((report) => report.details?.failures)).toEqual([1, 99]);
    expect(reports[1]?.reason).toBe('sink s: failure 99');
    reporter.close();
  });

  it('sums dropped events, and reports what is still counted when closed', async () => {
    const { reports, emit, nth } = collect();
    const reporter = new SinkReporter('s', emit, 60_000);
    reporter.droppedEvents(3);
    await nth(1);
    reporter.droppedEvents(4);
    reporter.droppedEvents(5);
    reporter.close();
    expect(reports.map((report) => [report.name, report.details?.dropped_events])).toEqual([
      ['sink.dropped', 3],
      ['sink.dropped', 9],
    ]);
    reporter.droppedEvents(1);
    expect(reports).toHaveLength(2);
  });

  it('survives a bus that throws', async () => {
    const reporter = new SinkReporter('s', () => {
      throw new Error('sink exploded');
    }, 10);
    reporter.error('x');
    await new Promise((resolve) => setTimeout(resolve, 20));
    reporter.close();
  });
});
