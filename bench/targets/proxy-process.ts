/**
 * Shared plumbing for proxies that run as child processes (squid, chokepoint): raised fd limit, output to
 * a log file, wait until the HTTP port accepts, stop on request or on bench cleanup, remove the work dir.
 */
import { openSync, closeSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onCleanup } from '../lifecycle.js';
import { waitForPort } from '../proc/ports.js';
import { spawnWithRaisedFdLimit, stopProcess } from '../proc/spawn.js';
import type { StartedProxy } from './types.js';

const START_TIMEOUT_MS = 20_000;
const LOG_TAIL_CHARS = 2_000;

/** What a proxy's `prepare` step (config files written into its work dir) tells us to run. */
export interface ProxyCommand {
  command: string;
  args: string[];
  httpPort: number;
  /** Extra logs (besides the captured stdout/stderr) whose tail explains a failed start, e.g. squid's cache.log. */
  extraLogs?: string[];
}

async function tail(path: string): Promise<string> {
  const text = await readFile(path, 'utf8').catch(() => '');
  return text.length > LOG_TAIL_CHARS ? `...${text.slice(-LOG_TAIL_CHARS)}` : text;
}

/**
 * Creates a temp work dir, lets `prepare` write the proxy's config there, starts the proxy and waits for
 * its HTTP port. The work dir is deleted when the proxy stops or fails to start.
 */
export async function launchProxyProcess(
  name: string,
  prepare: (workDir: string) => Promise<ProxyCommand>,
): Promise<StartedProxy> {
  const workDir = await mkdtemp(join(tmpdir(), `chokepoint-bench-${name}-`));
  let launch: ProxyCommand;
  try {
    launch = await prepare(workDir);
  } catch (error) {
    await rm(workDir, { recursive: true, force: true });
    throw error;
  }
  const outputLog = join(workDir, 'output.log');
  const outputFd = openSync(outputLog, 'a');
  const child = spawnWithRaisedFdLimit(launch.command, launch.args, ['ignore', outputFd, outputFd]);
  closeSync(outputFd); // the child has its own copy
  const stop = async (): Promise<void> => {
    unregister();
    await stopProcess(child);
    await rm(workDir, { recursive: true, force: true });
  };
  const unregister = onCleanup(stop);
  try {
    if (child.pid === undefined) throw new Error('spawn failed');
    await waitForPort(launch.httpPort, START_TIMEOUT_MS, () => child.exitCode === null && child.signalCode === null);
    return { httpPort: launch.httpPort, pid: child.pid, stop };
  } catch (error) {
    const logs = await Promise.all([outputLog, ...(launch.extraLogs ?? [])].map(tail));
    await stop();
    throw new Error(`${name} did not start: ${String(error)}\n${logs.join('\n').trim()}`);
  }
}
