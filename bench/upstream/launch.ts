/** Runner side of upstream/servers.ts: start the servers process and learn its ports. */
import { fileURLToPath } from 'node:url';
import { onCleanup } from '../lifecycle.js';
import { parseResultLine } from '../proc/load-process.js';
import { spawnWithRaisedFdLimit, stopProcess } from '../proc/spawn.js';
import { upstreamPortsSchema, type UpstreamEndpoints } from '../protocol.js';

const START_TIMEOUT_MS = 10_000;

export interface Upstream {
  endpoints: UpstreamEndpoints;
  stop(): Promise<void>;
}

export function launchUpstream(): Promise<Upstream> {
  const script = fileURLToPath(new URL('./servers.js', import.meta.url));
  const child = spawnWithRaisedFdLimit(process.execPath, [script], ['pipe', 'pipe', 'inherit']);
  const stop = async (): Promise<void> => {
    unregister();
    child.stdin?.end();
    await stopProcess(child, 2_000);
  };
  const unregister = onCleanup(stop);
  return new Promise((resolve, reject) => {
    let output = '';
    let settled = false;
    const settle = (outcome: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.off('exit', onEarlyExit);
      outcome();
    };
    const fail = (error: Error): void => settle(() => void stop().finally(() => reject(error)));
    const onEarlyExit = (): void => fail(new Error('upstream servers exited during start-up'));
    const timer = setTimeout(() => fail(new Error('upstream servers did not start')), START_TIMEOUT_MS);
    child.once('exit', onEarlyExit);
    child.stdout?.setEncoding('utf8').on('data', (text: string) => {
      output += text;
      if (settled || !output.includes('\n')) return;
      try {
        const endpoints = parseResultLine(output.trim(), upstreamPortsSchema, 'upstream servers');
        settle(() => resolve({ endpoints, stop }));
      } catch (error) {
        fail(error instanceof Error ? error : new Error(String(error)));
      }
    });
  });
}
