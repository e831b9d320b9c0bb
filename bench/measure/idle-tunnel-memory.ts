/**
 * Measurement 4: memory per idle tunnel. A freshly started proxy is warmed up with a few tunnels (so lazy
 * initialisation is not charged to the tunnels), its RSS read, then `count` tunnels are opened and held
 * idle by a load client while the RSS is read again: (after − before) / tunnels opened, in KiB.
 */
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { onCleanup } from '../lifecycle.js';
import { lastLine, parseResultLine, spawnLoadClient } from '../proc/load-process.js';
import { processTreeRssKiB } from '../proc/rss.js';
import { exited } from '../proc/spawn.js';
import {
  idleTunnelsDoneSchema,
  idleTunnelsReadySchema,
  type Endpoint,
  type IdleTunnelsArgs,
  type IdleTunnelsReady,
  type Route,
} from '../protocol.js';
import type { BenchTarget } from '../targets/types.js';
import { measureTunnelSetupRate } from './tunnel-setup.js';
import { failureNote, type Sample } from './sample.js';

const WARM_UP_TUNNELS = 100;
/** Time for allocators and the kernel to settle before RSS is read. */
const SETTLE_MS = 1_000;
const OPEN_TIMEOUT_MS = 90_000;

export interface MemorySample extends Sample {
  rssBeforeKiB: number;
  rssWithTunnelsKiB: number;
  tunnels: number;
}

/** Reads lines from the child's stdout until the "ready" line, or fails if it exits or stalls first. */
function readyLine(child: ReturnType<typeof spawnLoadClient>): Promise<IdleTunnelsReady> {
  return new Promise((resolve, reject) => {
    let output = '';
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    const timer = setTimeout(() => reject(new Error(`idle tunnels not open within ${OPEN_TIMEOUT_MS} ms`)), OPEN_TIMEOUT_MS);
    const onExit = (): void => {
      clearTimeout(timer);
      reject(new Error(`idle-tunnels client exited early: ${stderr.trim().slice(-500)}`));
    };
    child.once('exit', onExit);
    const onData = (text: string): void => {
      output += text;
      if (!output.includes('\n')) return;
      clearTimeout(timer);
      child.off('exit', onExit);
      child.stdout?.off('data', onData);
      try {
        resolve(parseResultLine(output.split('\n')[0] ?? '', idleTunnelsReadySchema, 'idle-tunnels client'));
      } catch (error) {
        reject(error instanceof Error ? error : new Error(String(error)));
      }
    };
    child.stdout?.setEncoding('utf8').on('data', onData);
  });
}

async function holdIdleTunnels(route: Route, echo: Endpoint, count: number, pid: number): Promise<MemorySample> {
  const rssBeforeKiB = processTreeRssKiB(pid);
  const args: IdleTunnelsArgs = { route, echo, count, inFlight: 100, perTunnelTimeoutMs: 10_000 };
  const child = spawnLoadClient('idle-tunnels-client', args);
  const unregister = onCleanup(() => {
    child.kill('SIGKILL');
  });
  try {
    const ready = await readyLine(child);
    if (ready.opened === 0) throw new Error(failureNote(ready.failed, count, 'tunnels', ready.firstError) ?? 'no tunnel opened');
    await sleep(SETTLE_MS);
    const rssWithTunnelsKiB = processTreeRssKiB(pid);
    // Closing stdin tells the client to close its tunnels; its last line says whether any died while idle.
    let output = '';
    child.stdout?.on('data', (text: string) => (output += text));
    child.stdin?.end();
    await Promise.race([once(child, 'close'), sleep(15_000, undefined, { ref: false })]);
    const done = parseResultLine(lastLine(output), idleTunnelsDoneSchema, 'idle-tunnels client');
    const problems = [
      failureNote(ready.failed, count, 'tunnels', ready.firstError),
      done.droppedWhileIdle > 0 ? `${done.droppedWhileIdle} tunnels were closed by the proxy while idle` : undefined,
    ].filter((note) => note !== undefined);
    return {
      value: (rssWithTunnelsKiB - rssBeforeKiB) / ready.opened,
      rssBeforeKiB,
      rssWithTunnelsKiB,
      tunnels: ready.opened,
      ...(problems.length === 0 ? {} : { problem: problems.join('; ') }),
    };
  } finally {
    child.kill('SIGKILL');
    await exited(child);
    unregister();
  }
}

/** Starts `target` fresh, measures, stops it: every sample starts from the same clean heap. */
export async function measureIdleTunnelMemory(target: BenchTarget, echo: Endpoint, count: number): Promise<MemorySample> {
  const running = await target.start();
  try {
    if (running.pid === null) throw new Error(`${target.name} has no process to weigh`);
    await measureTunnelSetupRate(running.route, echo, { count: WARM_UP_TUNNELS, inFlight: 10 });
    await sleep(SETTLE_MS);
    return await holdIdleTunnels(running.route, echo, count, running.pid);
  } finally {
    await running.stop();
  }
}
