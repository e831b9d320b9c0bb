/**
 * Runs a load client (dist/bench/load/<name>.js) as its own process, so the load generator never shares
 * an event loop with the runner or the proxy, and returns its validated one-line JSON result.
 */
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { z } from 'zod';
import { onCleanup } from '../lifecycle.js';
import { spawnWithRaisedFdLimit } from './spawn.js';

/** Compiled load scripts sit beside this file's folder at runtime: dist/bench/load/<name>.js. */
export function loadScriptPath(name: string): string {
  return fileURLToPath(new URL(`../load/${name}.js`, import.meta.url));
}

/** Starts `dist/bench/load/<name>.js` with `args` as JSON; the caller owns stdin/stdout. */
export function spawnLoadClient(name: string, args: unknown): ChildProcess {
  return spawnWithRaisedFdLimit(process.execPath, [loadScriptPath(name), JSON.stringify(args)], ['pipe', 'pipe', 'pipe']);
}

/** Last non-empty line of a child's stdout: where load clients print their result. */
export function lastLine(text: string): string {
  return text.trimEnd().split('\n').at(-1) ?? '';
}

export function parseResultLine<T>(line: string, schema: z.ZodType<T>, source: string): T {
  let json: unknown;
  try {
    json = JSON.parse(line);
  } catch {
    throw new Error(`${source} printed no JSON result (last line: ${JSON.stringify(line.slice(0, 200))})`);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) throw new Error(`${source} printed an unexpected result: ${parsed.error.message}`);
  return parsed.data;
}

/**
 * Runs load client `name` to completion and parses its result. The child is SIGKILLed after `timeoutMs`
 * (or when the bench is interrupted), so a wedged proxy cannot hang the run.
 */
export function runLoadClient<T>(name: string, args: unknown, schema: z.ZodType<T>, timeoutMs: number): Promise<T> {
  const child = spawnLoadClient(name, args);
  const unregister = onCleanup(() => {
    child.kill('SIGKILL');
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (text: string) => (stdout += text));
  child.stderr?.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  child.stdin?.end();
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      unregister();
      if (code !== 0) {
        const why = signal === 'SIGKILL' ? `killed after ${timeoutMs} ms` : `exit ${code ?? signal}`;
        reject(new Error(`load client ${name} failed (${why}): ${stderr.trim().slice(-500)}`));
        return;
      }
      try {
        resolve(parseResultLine(lastLine(stdout), schema, `load client ${name}`));
      } catch (error) {
        reject(error instanceof Error ? error : new Error(String(error)));
      }
    });
  });
}
