/**
 * The file sink's contract with `chokepoint verify-log`: the real program (`chokepoint run` with a
 * `sinks:` file sink that rotates every couple of kilobytes), driven by curl through allowed and
 * denied flows, run twice on the same file (a restart). `verify-log` over the rotated set, oldest
 * first, must find the chain intact: the sink writes exactly the chained line, whole, once, in order.
 */
import { readdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireBuiltCli, runCli, startCli } from '../helpers/cli.js';
import { curl } from '../helpers/curl.js';
import { DENY_UNKNOWN_POLICY, tempRules, type TempRules } from '../helpers/rules.js';
import { httpUpstream, type Upstream } from '../helpers/upstreams.js';

let rules: TempRules;
let upstream: Upstream;
let work: string;
let logFile: string;

async function runProxyOnce(configFile: string, requests: number): Promise<void> {
  const cli = startCli(['run', '--config', configFile]);
  try {
    const listening = await cli.waitForStderr(/listening \(http 127\.0\.0\.1:(\d+)/);
    const proxy = `http://127.0.0.1:${listening[1]}`;
    for (let n = 0; n < requests; n += 1) {
      const allowed = await curl(['-x', proxy, `http://127.0.0.1:${upstream.port}/ok/${n}`]);
      expect(allowed.status).toBe(200);
      const denied = await curl(['-x', proxy, `http://denied-${n}.example:80/`]);
      expect(denied.status).toBe(403);
    }
  } finally {
    cli.child.kill('SIGTERM');
  }
  const exit = await cli.exited;
  expect(exit.code, exit.stderr).toBe(0);
}

/** FILE.<n> … FILE.1, FILE: the order verify-log wants (oldest first). */
async function rotatedSet(file: string): Promise<string[]> {
  const base = path.basename(file);
  const indexes = (await readdir(path.dirname(file)))
    .filter((name) => name.startsWith(`${base}.`))
    .map((name) => Number(name.slice(base.length + 1)))
    .sort((a, b) => b - a);
  return [...indexes.map((index) => `${file}.${index}`), file];
}

beforeAll(async () => {
  requireBuiltCli();
  upstream = await httpUpstream();
  rules = await tempRules(DENY_UNKNOWN_POLICY, {
    local: `agent: local\nidentify: { sources: ["127.0.0.1/32"] }\nallow:\n  - { cidr: 127.0.0.1/32, ports: [${upstream.port}] }\n`,
  });
  work = await mkdtemp(path.join(tmpdir(), 'chokepoint-sink-verify-'));
  logFile = path.join(work, 'logs', 'events.jsonl');
  const configFile = path.join(work, 'chokepoint.yaml');
  await writeFile(
    configFile,
    [
      'listen: { http: "127.0.0.1:0", socks: null }',
      `rules: ${JSON.stringify(rules.dir)}`,
      `state_dir: ${JSON.stringify(path.join(work, 'state'))}`,
      'events: { heartbeat_s: 0 }',
      'sinks:',
      `  - { type: file, path: ${JSON.stringify(logFile)}, rotate: { max_bytes: 4096, keep: 1000 }, fsync: batch }`,
      '',
    ].join('\n'),
  );
  await runProxyOnce(configFile, 6);
  await runProxyOnce(configFile, 6);
}, 120_000);

afterAll(async () => {
  await upstream?.close();
  await rules?.remove();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('verify-log on the file sink of a real proxy', () => {
  it('finds the rotated set intact, two chains (one per run)', async () => {
    const files = await rotatedSet(logFile);
    expect(files.length).toBeGreaterThan(4);
    const result = await runCli(['verify-log', ...files]);
    expect(result.stdout).toMatch(/2 chain\(s\): the chain is intact/);
    expect(result.code).toBe(0);
  });

  it('finds a rotated file missing from the set', async () => {
    const files = await rotatedSet(logFile);
    const result = await runCli(['verify-log', ...files.filter((_, index) => index !== 2)]);
    expect(result.code).toBe(1);
  });
});
