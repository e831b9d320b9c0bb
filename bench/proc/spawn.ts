/**
 * Spawning and stopping the bench's child processes. Every child goes through a shell that first raises
 * its open-file limit (holding 5,000 idle tunnels takes 10,000+ descriptors in a proxy, and CI machines
 * often default to a soft limit of 1,024) and then `exec`s the command, so the pid we get back is the
 * command's own pid, the one whose RSS we read.
 */
import { execFile, spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** 65,536 is plenty for every measurement here; fall back to the hard limit when it is lower. */
const RAISE_FD_LIMIT = 'ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null;';

export function spawnWithRaisedFdLimit(command: string, args: string[], stdio: StdioOptions): ChildProcess {
  return spawn('sh', ['-c', `${RAISE_FD_LIMIT} exec "$@"`, 'sh', command, ...args], { stdio });
}

/** The open-file limit children actually get after raising it (what the idle-tunnel count must fit in). */
export async function childFdLimit(): Promise<number> {
  const { stdout } = await execFileAsync('sh', ['-c', `${RAISE_FD_LIMIT} ulimit -n`], { timeout: 5_000 });
  const limit = Number.parseInt(stdout.trim(), 10);
  // "unlimited" cannot happen for open files on Linux, but do not trust the parse blindly.
  return Number.isFinite(limit) ? limit : 1_024;
}

/** Resolves once the child has exited (immediately if it already has). */
export function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** SIGTERM, then SIGKILL if the child is still there after `graceMs`. */
export async function stopProcess(child: ChildProcess, graceMs = 5_000): Promise<void> {
  const done = exited(child);
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await done;
  clearTimeout(timer);
}

/** Runs a command to completion and returns its stdout; rejects on non-zero exit or after `timeoutMs`. */
export async function runCommand(
  command: string,
  args: string[],
  timeoutMs: number,
  extraEnv: Record<string, string> = {},
): Promise<string> {
  const { stdout } = await execFileAsync(command, args, {
    timeout: timeoutMs,
    maxBuffer: 16 * 1024 * 1024,
    env: { ...process.env, ...extraEnv },
  });
  return stdout;
}
