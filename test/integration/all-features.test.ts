/**
 * Every feature of the merged product in ONE real proxy (`chokepoint run`, the built CLI, as a child
 * process): HTTP, SOCKS5, DNS and admin listeners, a file sink, heartbeat, a bytes_out budget that
 * quarantines, a quarantine webhook. Real clients drive a little of everything (curl over HTTP and
 * SOCKS5, dig, the admin API setting a marker and killing a live tunnel, an upload over the budget);
 * then SIGTERM. The process must exit by itself with code 0 — a timer, socket or listener left open by
 * any part would keep its event loop alive — and `chokepoint verify-log` must find the sink's file intact.
 * Transparent mode needs iptables in a namespace and has its own proof (test/e2e); it is off here.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChokepointEvent } from '../../src/events/types.js';
import { adminCall, adminToken } from '../helpers/admin.js';
import { requireBuiltCli, runCli, startCli, type CliProcess, type CliResult } from '../helpers/cli.js';
import { curl } from '../helpers/curl.js';
import { dig, dnsUpstream, type DnsUpstream } from '../helpers/dns-upstream.js';
import { connectTunnel, echoRoundTrip, whenClosed } from '../helpers/raw-clients.js';
import { DENY_UNKNOWN_POLICY, tempRules, type TempRules } from '../helpers/rules.js';
import { echoUpstream, httpUpstream, type Upstream } from '../helpers/upstreams.js';
import { webhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.js';

const BUDGET_BYTES = 8 * 1024;

let work: string;
let rules: TempRules;
let web: Upstream;
let echo: Upstream;
let zone: DnsUpstream;
let hook: WebhookReceiver;
let cli: CliProcess;
let exit: CliResult;
let eventFile: string;
let token: string;
/** A tunnel left open across SIGTERM. */
let openTunnel: import('node:net').Socket | undefined;
const ports = { http: 0, socks: 0, dns: 0, admin: 0 };

/** The sink file's events so far (whole lines only). */
async function sinkEvents(): Promise<ChokepointEvent[]> {
  const text = await readFile(eventFile, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter((line) => line.endsWith('}'))
    .map((line) => JSON.parse(line) as ChokepointEvent);
}

/** Waits (re-reading the file on each new sink write) until an event matching `match` is in the file. */
async function waitForSinkEvent(match: (event: ChokepointEvent) => boolean): Promise<ChokepointEvent> {
  for (;;) {
    const found = (await sinkEvents()).find(match);
    if (found) return found;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

beforeAll(async () => {
  requireBuiltCli();
  web = await httpUpstream();
  echo = await echoUpstream();
  zone = await dnsUpstream({ records: [{ name: 'web.e2e.test', type: 'A', ttl: 60, data: '127.0.0.1' }] });
  hook = await webhookReceiver();
  work = await mkdtemp(path.join(tmpdir(), 'chokepoint-all-features-'));
  rules = await tempRules(DENY_UNKNOWN_POLICY, {
    local: [
      'agent: local',
      'identify: { sources: ["127.0.0.1/32"] }',
      'allow:',
      `  - { host: web.e2e.test, ports: [${web.port}] }`,
      `  - { cidr: 127.0.0.1/32, ports: [${web.port}, ${echo.port}] }`,
      'budgets:',
      `  bytes_out: { limit: ${BUDGET_BYTES}, window: 1h, action: quarantine }`,
      '',
    ].join('\n'),
    // Another source, not quarantined: its tunnel is still open when the proxy is told to stop.
    bystander: ['agent: bystander', 'identify: { sources: ["127.0.0.2/32"] }', 'allow:', `  - { cidr: 127.0.0.1/32, ports: [${echo.port}] }`, ''].join('\n'),
  });
  token = adminToken();
  // A quarantine that lapsed while the proxy was down: released, with its event, at start-up.
  await mkdir(path.join(work, 'state'), { recursive: true });
  await writeFile(
    path.join(work, 'state', 'quarantine.json'),
    JSON.stringify({ version: 1, quarantined: [{ agent: 'bystander', since: '2026-01-01T00:00:00.000Z', reason: 'operator', trigger: 'operator', expiresAt: '2026-01-01T01:00:00.000Z' }] }),
  );
  await writeFile(path.join(work, 'admin-token'), `${token}\n`, { mode: 0o600 });
  // Relative paths on purpose: they are resolved against the config file's directory, not the cwd.
  eventFile = path.join(work, 'logs', 'events.jsonl');
  await writeFile(
    path.join(work, 'chokepoint.yaml'),
    [
      'listen: { http: "127.0.0.1:0", socks: "127.0.0.1:0", dns: "127.0.0.1:0", admin: "127.0.0.1:0" }',
      `rules: ${JSON.stringify(rules.dir)}`,
      'state_dir: ./state',
      'certs_dir: ./certs',
      'events: { heartbeat_s: 1 }',
      `dns: { upstreams: ["127.0.0.1:${zone.port}"] }`,
      'admin: { token_file: ./admin-token }',
      'quarantine:',
      '  webhooks:',
      `    - { url: "${hook.url}", on: [quarantined, released], retries: 0 }`,
      'sinks:',
      '  - { type: file, path: ./logs/events.jsonl }',
      '',
    ].join('\n'),
  );
  cli = startCli(['run', '--config', path.join(work, 'chokepoint.yaml')], tmpdir());
  const listening = await cli.waitForStderr(/listening \(http 127\.0\.0\.1:(\d+), socks5 127\.0\.0\.1:(\d+), dns 127\.0\.0\.1:(\d+), admin 127\.0\.0\.1:(\d+)\)/);
  [ports.http, ports.socks, ports.dns, ports.admin] = listening.slice(1, 5).map(Number) as [number, number, number, number];
}, 60_000);

afterAll(async () => {
  if (cli && cli.child.exitCode === null && cli.child.signalCode === null) cli.child.kill('SIGKILL');
  await Promise.all([web?.close(), echo?.close(), zone?.close(), hook?.close()]);
  await rules?.remove();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('one proxy with every listener, sink, budget and webhook', () => {
  it('serves HTTP and SOCKS5 (curl), DNS (dig) and the admin API (marker, kill)', async () => {
    const viaHttp = await curl(['-x', `http://127.0.0.1:${ports.http}`, `http://127.0.0.1:${web.port}/over-http`]);
    expect(viaHttp.status, viaHttp.stderr).toBe(200);
    const viaSocks = await curl(['--socks5', `127.0.0.1:${ports.socks}`, `http://127.0.0.1:${web.port}/over-socks`]);
    expect(viaSocks.status, viaSocks.stderr).toBe(200);
    expect(await dig(ports.dns, ['web.e2e.test', 'A'])).toMatch(/web\.e2e\.test\.\s+\d+\s+IN\s+A\s+127\.0\.0\.1/);
    // The cidr rule could allow any name that resolves into it, so this one is asked upstream (which has none).
    expect(await dig(ports.dns, ['not-listed.e2e.test', 'A'])).toMatch(/status: NXDOMAIN/);

    const marker = await adminCall(ports.admin, 'POST', '/v1/markers', { token, body: { agent: 'local', step: '7' } });
    expect(marker.status, marker.text).toBe(200);

    const tunnel = await connectTunnel(ports.http, `127.0.0.1:${echo.port}`);
    expect(tunnel.status).toBe(200);
    expect((await echoRoundTrip(tunnel.socket, 'ping')).toString()).toBe('ping');
    const flows = (await adminCall(ports.admin, 'GET', '/v1/flows?agent=local', { token })).json?.flows as Array<{ id: string; target: { port: number } }>;
    const live = flows.find((flow) => flow.target.port === echo.port);
    expect(live).toBeDefined();
    const killed = await adminCall(ports.admin, 'DELETE', `/v1/flows/${live?.id ?? ''}`, { token, body: { reason: 'all-features test' } });
    expect(killed.status, killed.text).toBe(200);
    await whenClosed(tunnel.socket);

    const event = await waitForSinkEvent((candidate) => candidate.event.action === 'flow.killed');
    expect(event.labels).toMatchObject({ step: '7' });
  });

  it('quarantines the agent over its bytes_out budget and tells the webhook', async () => {
    const upload = await curl(['-x', `http://127.0.0.1:${ports.http}`, '--data-binary', 'x'.repeat(BUDGET_BYTES * 2), `http://127.0.0.1:${web.port}/upload`]);
    expect(upload.status).not.toBe(200);
    const told = await hook.waitFor((received) => (received.body as { event?: string }).event === 'quarantined');
    expect(told.body).toMatchObject({ agent: 'local', trigger: 'budget.bytes_out' });
    const refused = await curl(['-x', `http://127.0.0.1:${ports.http}`, `http://127.0.0.1:${web.port}/after`]);
    expect(refused.status).toBe(403);
  });

  it('writes heartbeats to the sink', async () => {
    await waitForSinkEvent((event) => event.event.action === 'proxy.heartbeat');
  });

  it('stops on SIGTERM with code 0, its event loop empty (nothing left open keeps it alive)', async () => {
    const tunnel = await connectTunnel(ports.http, `127.0.0.1:${echo.port}`, { localAddress: '127.0.0.2' });
    expect(tunnel.status).toBe(200);
    expect((await echoRoundTrip(tunnel.socket, 'still here')).toString()).toBe('still here');
    openTunnel = tunnel.socket;
    await waitForSinkEvent((event) => event.event.action === 'flow.allowed' && event.chokepoint.agent === 'bystander');
    cli.child.kill('SIGTERM');
    await whenClosed(tunnel.socket);
    exit = await cli.exited;
    expect(exit.signal).toBeNull();
    expect(exit.stderr).not.toMatch(/unclean|fatal/);
    expect(exit.code, exit.stderr).toBe(0);
  }, 60_000);

  it('leaves a sink file that verify-log finds intact, ending with proxy.stopped', async () => {
    const result = await runCli(['verify-log', eventFile]);
    expect(result.stdout).toMatch(/1 chain\(s\): the chain is intact/);
    expect(result.code, result.stdout + result.stderr).toBe(0);
    const events = await sinkEvents();
    const actions = new Set(events.map((event) => event.event.action));
    for (const action of ['proxy.started', 'flow.allowed', 'dns.query', 'marker.set', 'flow.killed', 'agent.quarantined', 'quarantine.webhook_delivered', 'proxy.heartbeat']) {
      expect(actions, action).toContain(action);
    }
    const lapsed = events.find((event) => event.event.action === 'agent.released' && event.chokepoint.agent === 'bystander');
    expect(lapsed?.event.reason).toBe('expired');
    expect(events.at(-1)?.event.action, JSON.stringify(events.slice(-4).map((e) => [e.event.action, e.chokepoint.agent, e.event.reason]))).toBe('proxy.stopped');
    // The tunnel open at the stop ends with its flow.closed, before proxy.stopped (nothing after it).
    const bystanderFlow = events.find((event) => event.event.action === 'flow.allowed' && event.chokepoint.agent === 'bystander');
    expect(events.some((event) => event.event.action === 'flow.closed' && event.chokepoint.flow_id === bystanderFlow?.chokepoint.flow_id)).toBe(true);
    expect(openTunnel?.destroyed).toBe(true);
    expect(events.map((event) => event.event.sequence)).toEqual(events.map((_, index) => index + 1));
  });
});
