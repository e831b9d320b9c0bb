/** Turns a StartProxy function into a results column. */
import type { BenchTarget, StartProxy } from './types.js';

export function proxyTarget(name: string, startProxy: StartProxy): BenchTarget {
  return {
    name,
    isProxy: true,
    start: async () => {
      const proxy = await startProxy();
      return { name, route: { kind: 'proxy', port: proxy.httpPort }, pid: proxy.pid, stop: proxy.stop };
    },
  };
}
