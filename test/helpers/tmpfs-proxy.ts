/**
 * The real program (`chokepoint run`) with a small tmpfs of its own: `unshare -m` gives it a private
 * mount namespace where the tmpfs is mounted on `mount`, so the host never sees it and it vanishes with
 * the process. The test reaches into it through /proc/<pid>/root (to fill it up, to free it again);
 * after the proxy exits, `copyOut` files are copied to `out` for the test to read.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { CLI_PATH } from './cli.js';

export interface TmpfsProxy {
  pid: number;
  stdout(): string;
  stderr(): string;
  waitForStdout(pattern: RegExp, ms?: number): Promise<RegExpExecArray>;
  waitForStderr(pattern: RegExp, ms?: number): Promise<RegExpExecArray>;
  /** Fills the tmpfs with a file (until ENOSPC); `free` removes it. */
  fill(): void;
  free(): Promise<void>;
  /** SIGTERM; resolves with the exit code once the proxy stopped and the files were copied out. */
  stop(): Promise<number | null>;
  /** SIGKILL for cleanup after a failure. */
  kill(): void;
}

export function startProxyOnTmpfs(options: { mount: string; sizeKiB: number; configFile: string; copyOut: string; out: string }): TmpfsProxy {
  // sh waits for the proxy (its TERM trap runs afterwards), then copies what the test reads out.
  const script = 'trap : TERM; mount -t tmpfs -o size="$1"k tmpfs "$2" || exit 97; "$3" "$4" run --config "$5"; code=$?; cp -r "$2"/$6 "$7"/ 2>/dev/null; exit $code';
  const child = spawn(
    'unshare',
    ['-m', '--propagation', 'private', 'sh', '-c', script, 'sh', String(options.sizeKiB), options.mount, process.execPath, CLI_PATH, options.configFile, options.copyOut, options.out],
    { detached: true, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const pid = child.pid;
  if (pid === undefined || !child.stdout || !child.stderr) throw new Error('unshare did not start');
  const output = { stdout: '', stderr: '' };
  child.stdout.setEncoding('utf8').on('data', (text: string) => (output.stdout += text));
  child.stderr.setEncoding('utf8').on('data', (text: string) => (output.stderr += text));
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  let running = true;
  void exited.then(() => (running = false));

  const waitFor = (stream: NodeJS.ReadableStream, read: () => string, pattern: RegExp, ms: number): Promise<RegExpExecArray> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        const match = pattern.exec(read());
        if (match) finish(() => resolve(match));
        else if (!running) finish(() => reject(new Error(`proxy exited before printing ${pattern}:\n${output.stderr}`)));
      };
      const timer = setTimeout(() => finish(() => reject(new Error(`no ${pattern} within ${ms} ms:\n${read()}\n${output.stderr}`))), ms);
      const finish = (settle: () => void): void => {
        clearTimeout(timer);
        stream.off('data', check);
        settle();
      };
      stream.on('data', check);
      void exited.then(check);
      check();
    });
  const filler = path.join(`/proc/${pid}/root`, options.mount, 'filler');

  return {
    pid,
    stdout: () => output.stdout,
    stderr: () => output.stderr,
    waitForStdout: (pattern, ms = 20_000) => waitFor(child.stdout as NodeJS.ReadableStream, () => output.stdout, pattern, ms),
    waitForStderr: (pattern, ms = 20_000) => waitFor(child.stderr as NodeJS.ReadableStream, () => output.stderr, pattern, ms),
    fill: () => {
      try {
        writeFileSync(filler, Buffer.alloc(options.sizeKiB * 1024 * 2, 0x61));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOSPC') return;
        throw error;
      }
      throw new Error('the tmpfs did not fill up');
    },
    free: () => rm(filler),
    stop: async () => {
      if (running) process.kill(-pid, 'SIGTERM');
      return exited;
    },
    kill: () => {
      if (running) process.kill(-pid, 'SIGKILL');
    },
  };
}
