/**
 * The command-line contract, against the built program: help, exit codes (0 ok, 1 invalid config or
 * rules, 2 usage, 3 cannot listen), file:line errors, the "listening" line, JSON-lines events, SIGHUP
 * reload and SIGTERM shutdown.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { requireBuiltCli, runCli, startCli, type CliProcess } from '../helpers/cli.js';
import { curl } from '../helpers/curl.js';
import { DENY_UNKNOWN_POLICY, tempRules, type TempRules } from '../helpers/rules.js';
import { httpUpstream, type Upstream } from '../helpers/upstreams.js';

const RUN_FLAGS = ['--config', '--rules', '--http', '--socks', '--events'];

type EventLine = Record<string, unknown> & { event: { action: string; sequence: number } };

/** Parses an events file: one JSON object per complete line (a line still being written is left out). */
async function readEvents(file: string): Promise<EventLine[]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text
    .split('\n')
    .slice(0, -1)
    .map((line) => JSON.parse(line) as EventLine);
}

/** Polls the events file until a line with `action` appears. */
async function waitForEventLine(file: string, action: string, ms = 10_000): Promise<EventLine> {
  const deadline = Date.now() + ms;
  for (;;) {
    const found = (await readEvents(file)).find((event) => event.event.action === action);
    if (found) return found;
    if (Date.now() > deadline) throw new Error(`no ${action} line in ${file} within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('chokepoint CLI', () => {
  let rules: TempRules;
  let upstream: Upstream;
  const running: CliProcess[] = [];

  beforeAll(async () => {
    requireBuiltCli();
    upstream = await httpUpstream();
    rules = await tempRules(DENY_UNKNOWN_POLICY, {
      local: `agent: local
identify: { sources: ["127.0.0.1/32"] }
allow:
  - { cidr: 127.0.0.1/32, ports: [${upstream.port}] }
`,
    });
  });
  afterEach(() => {
    // A failed test must not leave a proxy running.
    for (const cli of running.splice(0)) cli.child.kill('SIGKILL');
  });
  afterAll(async () => {
    await upstream.close();
    await rules.remove();
  });

  it('documents run, lint and every flag of run in --help (exit 0)', async () => {
    const result = await runCli(['--help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/chokepoint run/);
    expect(result.stdout).toMatch(/chokepoint lint/);
    for (const flag of RUN_FLAGS) expect(result.stdout).toContain(flag);
    expect(result.stdout).toMatch(/Exit codes/);
  });

  it('exits 2 on an unknown command or an unknown flag, naming it', async () => {
    const command = await runCli(['launch']);
    expect(command.code).toBe(2);
    expect(command.stderr).toMatch(/unknown command "launch"/);
    const flag = await runCli(['run', '--listen', '127.0.0.1:0']);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toMatch(/--listen/);
  });

  it('exits 2 with the usage on stderr when no command is given', async () => {
    const result = await runCli([]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/Usage:/);
  });

  it('exits 1 on an invalid config file, with file:line and the key', async () => {
    const file = path.join(rules.dir, 'bad-config.yaml');
    await writeFile(file, 'listen:\n  http: 127.0.0.1:0\ntimeouts:\n  idle_ms: -5\n');
    const result = await runCli(['run', '--config', file]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`${file}:4: timeouts.idle_ms:`);
  });

  it('exits 1 on invalid rules, with file:line', async () => {
    const bad = await tempRules(DENY_UNKNOWN_POLICY, { broken: 'agent: broken\nallow:\n  - { host: example.com, ports: [99999] }\n' });
    try {
      const result = await runCli(['run', '--rules', bad.dir, '--http', '127.0.0.1:0', '--socks', '127.0.0.1:0', '--events', path.join(bad.dir, 'events.jsonl')]);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(`${path.join(bad.dir, 'agents', 'broken.yaml')}:3: allow[0].ports[0]:`);
    } finally {
      await bad.remove();
    }
  });

  it('runs: listens, serves, writes JSON-line events, reloads on SIGHUP, stops on SIGTERM', async () => {
    const eventsFile = path.join(rules.dir, 'events.jsonl');
    const cli = startCli(['run', '--http', '127.0.0.1:0', '--socks', '127.0.0.1:0', '--rules', rules.dir, '--events', eventsFile]);
    running.push(cli);
    const listening = await cli.waitForStderr(/listening \(http 127\.0\.0\.1:(\d+), socks5 127\.0\.0\.1:(\d+)\)/);
    const httpPort = Number(listening[1]);
    expect(Number(listening[2])).toBeGreaterThan(0);

    const result = await curl(['-x', `http://127.0.0.1:${httpPort}`, `http://127.0.0.1:${upstream.port}/via-cli`]);
    expect(result.status, result.body).toBe(200);
    expect(result.body).toBe('hello from upstream\n');

    cli.child.kill('SIGHUP');
    const reloaded = await waitForEventLine(eventsFile, 'config.reloaded');
    expect(reloaded).toMatchObject({ chokepoint: { details: { trigger: 'SIGHUP' } } });

    cli.child.kill('SIGTERM');
    const exit = await cli.exited;
    expect(exit.code).toBe(0);
    expect(exit.stderr).toMatch(/SIGTERM, stopping/);

    expect(exit.stdout).toBe('');
    const events = await readEvents(eventsFile);
    const actions = events.map((event) => event.event.action);
    expect(actions[0]).toBe('proxy.started');
    expect(actions).toEqual(expect.arrayContaining(['flow.allowed', 'flow.closed', 'config.reloaded']));
    expect(actions.at(-1)).toBe('proxy.stopped');
    const sequences = events.map((event) => event.event.sequence);
    expect(sequences).toEqual(sequences.map((_, index) => index + 1));
    for (const event of events) expect(event['@timestamp']).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  });

  it('exits 3 with a clear message when a port is already in use', async () => {
    const squatter = net.createServer();
    await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', resolve));
    const port = (squatter.address() as net.AddressInfo).port;
    try {
      const result = await runCli(['run', '--rules', rules.dir, '--http', `127.0.0.1:${port}`, '--socks', '127.0.0.1:0', '--events', path.join(rules.dir, 'busy.jsonl')]);
      expect(result.code).toBe(3);
      expect(result.stderr).toMatch(new RegExp(`cannot listen for http on 127\\.0\\.0\\.1:${port}: address already in use`));
    } finally {
      await new Promise<void>((resolve) => squatter.close(() => resolve()));
    }
  });

  describe('lint', () => {
    it('exits 0 on a good rules directory', async () => {
      const result = await runCli(['lint', rules.dir]);
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(/1 agent\(s\).*no problems/);
    });

    it('exits 1 on a bad one, with file:line', async () => {
      const bad = await tempRules('unknown_agent: deny\ndeny:\n  - { host: "bad host" }\n', {});
      try {
        const result = await runCli(['lint', bad.dir]);
        expect(result.code).toBe(1);
        expect(result.stderr).toContain(`${path.join(bad.dir, 'policy.yaml')}:3: deny[0].host:`);
      } finally {
        await bad.remove();
      }
    });

    it('passes on the shipped rules/', async () => {
      const result = await runCli(['lint', 'rules']);
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
    });
  });

  describe('quarantine', () => {
    it('lists and releases quarantined agents in a state directory, and refuses a corrupt one', async () => {
      const state = path.join(rules.dir, '.cli-state');
      await mkdir(state, { recursive: true });
      const file = path.join(state, 'quarantine.json');
      await writeFile(file, JSON.stringify({ version: 1, quarantined: [{ agent: 'miner', since: '2026-11-26T00:00:00.000Z', reason: 'stratum: XMRig login' }] }));
      const listed = await runCli(['quarantine', 'list', '--state', state]);
      expect(listed.code).toBe(0);
      expect(listed.stdout).toContain('miner\tsince 2026-11-26T00:00:00.000Z\tuntil released\tstratum: XMRig login');
      const released = await runCli(['quarantine', 'release', 'miner', '--state', state]);
      expect(released.code).toBe(0);
      expect(released.stdout).toMatch(/released miner; send SIGHUP/);
      expect(JSON.parse(await readFile(file, 'utf8'))).toMatchObject({ quarantined: [] });
      const again = await runCli(['quarantine', 'release', 'miner', '--state', state]);
      expect(again.code).toBe(1);
      expect(again.stderr).toMatch(/not quarantined/);
      await writeFile(file, '{ not json');
      const corrupt = await runCli(['quarantine', 'list', '--state', state]);
      expect(corrupt.code).toBe(1);
      expect(corrupt.stderr).toMatch(/not valid JSON/);
      expect((await runCli(['quarantine', 'release'])).code).toBe(2);
    });
  });
});
