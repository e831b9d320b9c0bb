/** What the runner knows about the things it benchmarks. */
import type { Route } from '../protocol.js';

/** A freshly started proxy: where its HTTP listener is, which process to weigh, how to stop it. */
export interface StartedProxy {
  httpPort: number;
  pid: number;
  stop(): Promise<void>;
}

/** Starts one proxy under test. Plugging another proxy into the bench means writing one of these. */
export type StartProxy = () => Promise<StartedProxy>;

/** One column of the results, started and ready to measure. `pid` is null for "direct" (no proxy). */
export interface RunningTarget {
  name: string;
  route: Route;
  pid: number | null;
  stop(): Promise<void>;
}

export interface BenchTarget {
  name: string;
  /** False for the "direct" baseline, which has no process of its own and no memory to weigh. */
  isProxy: boolean;
  start(): Promise<RunningTarget>;
}
