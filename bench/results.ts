/** What the bench measures, and the per-round samples it collected for each target. */
import type { Sample } from './measure/sample.js';
import { median } from './stats.js';

export type MetricId =
  | 'tunnelThroughput'
  | 'tunnelSetupSequential'
  | 'tunnelSetupParallel'
  | 'httpRequests'
  | 'idleTunnelMemory';

export interface MetricInfo {
  id: MetricId;
  title: string;
  unit: string;
  better: 'higher' | 'lower';
  /** Measurements that weigh a proxy process have nothing to say about "direct". */
  proxiesOnly: boolean;
}

export const METRICS: Readonly<Record<MetricId, MetricInfo>> = {
  tunnelThroughput: {
    id: 'tunnelThroughput',
    title: 'CONNECT tunnel throughput',
    unit: 'MB/s',
    better: 'higher',
    proxiesOnly: false,
  },
  tunnelSetupSequential: {
    id: 'tunnelSetupSequential',
    title: 'Tunnel setup, sequential',
    unit: 'tunnels/s',
    better: 'higher',
    proxiesOnly: false,
  },
  tunnelSetupParallel: {
    id: 'tunnelSetupParallel',
    title: 'Tunnel setup, 50 in flight',
    unit: 'tunnels/s',
    better: 'higher',
    proxiesOnly: false,
  },
  httpRequests: { id: 'httpRequests', title: 'HTTP keep-alive requests', unit: 'req/s', better: 'higher', proxiesOnly: false },
  idleTunnelMemory: { id: 'idleTunnelMemory', title: 'Memory per idle tunnel', unit: 'KiB', better: 'lower', proxiesOnly: true },
};

/** Row order of the report. */
export const METRIC_ORDER: readonly MetricId[] = [
  'tunnelThroughput',
  'tunnelSetupSequential',
  'tunnelSetupParallel',
  'httpRequests',
  'idleTunnelMemory',
];

export class ResultSet {
  private readonly values = new Map<string, number[]>();
  /** Problem text → how many samples reported it (repeats are folded in the report). */
  private readonly problems = new Map<string, number>();

  record(metric: MetricId, target: string, sample: Sample): void {
    const key = `${metric}/${target}`;
    this.values.set(key, [...(this.values.get(key) ?? []), sample.value]);
    if (sample.problem !== undefined) this.noteProblem(metric, target, sample.problem);
  }

  recordFailure(metric: MetricId, target: string, error: unknown): void {
    this.noteProblem(metric, target, `measurement failed: ${error instanceof Error ? error.message : String(error)}`);
  }

  samples(metric: MetricId, target: string): readonly number[] {
    return this.values.get(`${metric}/${target}`) ?? [];
  }

  median(metric: MetricId, target: string): number | null {
    return median(this.samples(metric, target));
  }

  problemList(): Array<{ text: string; count: number }> {
    return [...this.problems].map(([text, count]) => ({ text, count }));
  }

  private noteProblem(metric: MetricId, target: string, problem: string): void {
    const text = `${target}, ${METRICS[metric].title}: ${problem.split('\n')[0] ?? ''}`;
    this.problems.set(text, (this.problems.get(text) ?? 0) + 1);
  }
}
