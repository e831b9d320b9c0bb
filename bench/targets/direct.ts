/** The baseline: load clients talk straight to the upstream servers, no proxy in between. */
import type { BenchTarget } from './types.js';

export const directTarget: BenchTarget = {
  name: 'direct',
  isProxy: false,
  start: () => Promise.resolve({ name: 'direct', route: { kind: 'direct' }, pid: null, stop: () => Promise.resolve() }),
};
