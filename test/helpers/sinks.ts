import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { defaultConfig } from '../../src/config/load-config.js';
import type { ChokepointConfig } from '../../src/config/chokepoint-config.js';
import type { SinkConfig } from '../../src/sinks/sink-config.js';
import { startProxy, type RunningProxy } from '../../src/server.js';
import { EventLog } from './proxy.js';
import { DENY_UNKNOWN_POLICY, tempRules, type TempRules } from './rules.js';

/** A scratch directory with rules (one agent allowed to reach loopback) and a state directory. */
export interface SinkWorkspace {
  dir: string;
  rules: TempRules;
  stateDir: string;
  remove(): Promise<void>;
}

export async function sinkWorkspace(): Promise<SinkWorkspace> {
  const dir = await mkdtemp(path.join(tmpdir(), 'chokepoint-sinks-'));
  const rules = await tempRules(DENY_UNKNOWN_POLICY, {
    tester: 'agent: tester\nidentify: { sources: ["127.0.0.1/32"] }\nallow:\n  - { cidr: 127.0.0.1/32, ports: ["1-65535"] }\n',
  });
  return {
    dir,
    rules,
    stateDir: path.join(dir, 'state'),
    remove: async () => {
      await rules.remove();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface SinkProxy {
  proxy: RunningProxy;
  /** Every event the bus emitted (in memory, besides the configured sinks). */
  log: EventLog;
  httpUrl: string;
}

/** Starts the proxy on ephemeral loopback ports with `sinks`, keeping its state in the workspace. */
export async function startSinkProxy(workspace: SinkWorkspace, sinks: SinkConfig[], adjust: (config: ChokepointConfig) => void = () => {}): Promise<SinkProxy> {
  const config = defaultConfig(workspace.dir);
  config.rulesDir = workspace.rules.dir;
  config.stateDir = workspace.stateDir;
  config.listen = { http: { host: '127.0.0.1', port: 0 }, socks: null };
  config.sinks = sinks;
  adjust(config);
  const log = new EventLog();
  const proxy = await startProxy(config, { sinks: [log], watch: false, sinkTuning: { reportIntervalMs: 200, flushTimeoutMs: 1_000 } });
  return { proxy, log, httpUrl: `http://127.0.0.1:${proxy.http?.port ?? 0}` };
}

/** Emits `count` numbered events (the number in `details.n`) through the proxy's bus. */
export function emitNumbered(proxy: RunningProxy, from: number, count: number): void {
  for (let n = from; n < from + count; n += 1) {
    proxy.events.emit({ name: 'flow.denied', kind: 'event', outcome: 'failure', reason: 'test event', details: { n } });
  }
}

/** The `details.n` of a parsed event (ECS record), or undefined for events the test did not number. */
export function numberOf(record: unknown): number | undefined {
  const details = (record as { chokepoint?: { details?: { n?: unknown } } }).chokepoint?.details;
  return typeof details?.n === 'number' ? details.n : undefined;
}

export const range = (from: number, count: number): number[] => Array.from({ length: count }, (_, i) => from + i);
