import path from 'node:path';
import { defaultConfig } from '../../src/config/load-config.js';
import type { ChokepointConfig } from '../../src/config/chokepoint-config.js';
import type { EventSink } from '../../src/events/bus.js';
import type { ChokepointEvent } from '../../src/events/types.js';
import { startProxy, type RunningProxy } from '../../src/server.js';

/** Events kept in memory, with a way to wait for one without sleeping. */
export class EventLog implements EventSink {
  readonly events: ChokepointEvent[] = [];
  private readonly waiters: Array<{ match: (e: ChokepointEvent) => boolean; resolve: (e: ChokepointEvent) => void }> = [];

  write(event: ChokepointEvent): void {
    this.events.push(event);
    for (const waiter of [...this.waiters]) {
      if (waiter.match(event)) {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        waiter.resolve(event);
      }
    }
  }

  flush(): Promise<void> {
    return Promise.resolve();
  }

  named(action: string): ChokepointEvent[] {
    return this.events.filter((event) => event.event.action === action);
  }

  /** Resolves with the first event (already logged or future) that matches; rejects after `ms`. */
  waitFor(match: (e: ChokepointEvent) => boolean, ms = 10_000): Promise<ChokepointEvent> {
    const seen = this.events.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no matching event within ${ms} ms`)), ms);
      this.waiters.push({ match, resolve: (event) => (clearTimeout(timer), resolve(event)) });
    });
  }
}

export interface TestProxy {
  proxy: RunningProxy;
  log: EventLog;
  httpUrl: string;
  socksPort: number;
  stop(): Promise<void>;
}

/** Starts Chokepoint in-process on ephemeral loopback ports with the given rules directory. */
export async function startTestProxy(rulesDir: string, adjust: (config: ChokepointConfig) => void = () => {}): Promise<TestProxy> {
  const config = defaultConfig(path.dirname(rulesDir));
  config.rulesDir = rulesDir;
  // Quarantine state per test rules directory (a dot-folder, which the rules loader skips), so no test
  // inherits another's quarantined agents.
  config.stateDir = path.join(rulesDir, '.state');
  config.listen = { http: { host: '127.0.0.1', port: 0 }, socks: { host: '127.0.0.1', port: 0 }, transparent: null };
  adjust(config);
  const log = new EventLog();
  const proxy = await startProxy(config, { sinks: [log] });
  return {
    proxy,
    log,
    httpUrl: `http://127.0.0.1:${proxy.http?.port ?? 0}`,
    socksPort: proxy.socks?.port ?? 0,
    stop: () => proxy.stop(),
  };
}
