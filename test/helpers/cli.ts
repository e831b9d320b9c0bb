import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Runs the built CLI (`node dist/src/cli.js`) as a real child process: the exit code, stdout and stderr
 * are the contract under test. `npm test` builds first (pretest); run `npm run build` when running
 * vitest directly.
 */

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CLI_PATH = path.join(REPO_ROOT, 'dist', 'src', 'cli.js');

/** Throws a message that says what to do when the build output is missing. */
export function requireBuiltCli(): void {
  if (!existsSync(CLI_PATH)) {
    throw new Error(`${CLI_PATH} is missing: run \`npm run build\` first (\`npm test\` does it in pretest)`);
  }
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** A started CLI process whose output is collected as it comes. */
export interface CliProcess {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves when stderr contains a match for `pattern`; rejects if the process exits first. */
  waitForStderr(pattern: RegExp, ms?: number): Promise<RegExpExecArray>;
  exited: Promise<CliResult>;
}

export function startCli(args: string[], cwd = REPO_ROOT): CliProcess {
  const child = spawn(process.execPath, [CLI_PATH, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const stderrListeners = new Set<() => void>();
  child.stdout?.setEncoding('utf8').on('data', (text: string) => (stdout += text));
  child.stderr?.setEncoding('utf8').on('data', (text: string) => {
    stderr += text;
    for (const listener of stderrListeners) listener();
  });
  const exited = new Promise<CliResult>((resolve) =>
    child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr })),
  );
  let hasExited = false;
  void exited.then(() => {
    hasExited = true;
    for (const listener of stderrListeners) listener();
  });

  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    exited,
    waitForStderr(pattern: RegExp, ms = 15_000): Promise<RegExpExecArray> {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          const match = pattern.exec(stderr);
          if (match) finish(() => resolve(match));
          else if (hasExited) finish(() => reject(new Error(`CLI exited before printing ${pattern}; stderr:\n${stderr}`)));
        };
        const timer = setTimeout(() => finish(() => reject(new Error(`no ${pattern} on stderr within ${ms} ms:\n${stderr}`))), ms);
        const finish = (settle: () => void): void => {
          clearTimeout(timer);
          stderrListeners.delete(check);
          settle();
        };
        stderrListeners.add(check);
        check();
      });
    },
  };
}

/** Runs the CLI to completion; a process still running after `ms` is killed (and shows signal SIGKILL). */
export async function runCli(args: string[], cwd = REPO_ROOT, ms = 15_000): Promise<CliResult> {
  const cli = startCli(args, cwd);
  const timer = setTimeout(() => cli.child.kill('SIGKILL'), ms);
  try {
    return await cli.exited;
  } finally {
    clearTimeout(timer);
  }
}
