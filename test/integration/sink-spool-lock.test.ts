/**
 * One process per spool: a second real `chokepoint run` on the same state_dir refuses to start with a
 * clear error (two writers would overwrite each other's acknowledgement: events lost or sent twice),
 * while the first keeps running; after the first is killed with SIGKILL (no clean stop, the lock stays
 * behind) a new process takes the stale lock over.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Collector } from '../helpers/collector.js';
import { requireBuiltCli, runCli, startCli, type CliProcess } from '../helpers/cli.js';
import { DENY_UNKNOWN_POLICY, tempRules, type TempRules } from '../helpers/rules.js';

let rules: TempRules;
let work: string;
let configFile: string;
let collector: Collector;
const started: CliProcess[] = [];

beforeAll(async () => {
  requireBuiltCli();
  rules = await tempRules(DENY_UNKNOWN_POLICY, {});
  work = await mkdtemp(path.join(tmpdir(), 'chokepoint-spool-lock-'));
  // Never listening: the events stay in the spool.
  collector = await Collector.reserve();
  configFile = path.join(work, 'chokepoint.yaml');
  await writeFile(
    configFile,
    [
      'listen: { http: "127.0.0.1:0", socks: null }',
      `rules: ${JSON.stringify(rules.dir)}`,
      `state_dir: ${JSON.stringify(path.join(work, 'state'))}`,
      'events: { heartbeat_s: 0 }',
      'sinks:',
      `  - { type: http, name: siem, url: ${JSON.stringify(collector.url)} }`,
      '',
    ].join('\n'),
  );
});

afterAll(async () => {
  for (const cli of started) {
    cli.child.kill('SIGKILL');
    await cli.exited;
  }
  await rules?.remove();
  if (work) await rm(work, { recursive: true, force: true });
});

function start(): CliProcess {
  const cli = startCli(['run', '--config', configFile]);
  started.push(cli);
  return cli;
}

describe('the spool lock', () => {
  it('refuses a second process on the same spool, and a SIGKILLed holder does not block the next start', async () => {
    const first = start();
    await first.waitForStderr(/listening \(http 127\.0\.0\.1:\d+/);
    const lock = path.join(work, 'state', 'spool', 'siem', 'lock');
    expect((await readFile(lock, 'utf8')).trim()).toBe(String(first.child.pid));

    const second = await runCli(['run', '--config', configFile]);
    expect(second.code).not.toBe(0);
    expect(second.signal).toBeNull();
    expect(second.stderr).toMatch(new RegExp(`spool .*siem is in use by process ${first.child.pid}`));
    // The refused process left the holder's lock alone.
    expect((await readFile(lock, 'utf8')).trim()).toBe(String(first.child.pid));

    first.child.kill('SIGKILL');
    await first.exited;
    expect(existsSync(lock)).toBe(true);
    const third = start();
    await third.waitForStderr(/listening \(http 127\.0\.0\.1:\d+/);
    expect((await readFile(lock, 'utf8')).trim()).toBe(String(third.child.pid));
    third.child.kill('SIGTERM');
    const stopped = await third.exited;
    expect({ code: stopped.code, signal: stopped.signal }, stopped.stderr).toEqual({ code: 0, signal: null });
    // A clean stop releases it.
    expect(existsSync(lock)).toBe(false);
  });
});
