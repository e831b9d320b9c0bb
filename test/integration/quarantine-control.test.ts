import { mkdir, readFile, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ChokepointConfig } from '../../src/config/chokepoint-config.js';
import type { WebhookConfig } from '../../src/config/quarantine-config.js';
import { runCli, requireBuiltCli } from '../helpers/cli.js';
import { curl } from '../helpers/curl.js';
import { nextEvent } from '../helpers/event-waits.js';
import { startTestProxy, type TestProxy } from '../helpers/proxy.js';
import { connectTunnel, whenClosed } from '../helpers/raw-clients.js';
import { DENY_UNKNOWN_POLICY, tempRules, type TempRules } from '../helpers/rules.js';
import { echoUpstream, httpUpstream, type Upstream } from '../helpers/upstreams.js';
import { webhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.js';

/** Quarantine control: expiry (also across restarts), the CLI's add / release, webhooks. */

const GETWORK = JSON.stringify({ method: 'getblocktemplate', params: [{ capabilities: ['coinbasetxn', 'workid'] }], id: 0 });

let rules: TempRules;
let upstream: Upstream;
let echo: Upstream;
let proxy: TestProxy | undefined;
let receivers: WebhookReceiver[] = [];

beforeEach(async () => {
  upstream = await httpUpstream();
  echo = await echoUpstream();
  rules = await tempRules(DENY_UNKNOWN_POLICY, {
    coder: `agent: coder
identify: { sources: ["127.0.0.1/32"] }
allow:
  - { host: app.test, ports: [${upstream.port}] }
  - { host: echo.test, ports: [${echo.port}] }
  - { cidr: 127.0.0.1/32, ports: [${upstream.port}, ${echo.port}] }
`,
  });
});

afterEach(async () => {
  await proxy?.stop();
  proxy = undefined;
  for (const receiver of receivers) await receiver.close();
  receivers = [];
  await upstream.close();
  await echo.close();
  await rules.remove();
});

function start(adjust: (config: ChokepointConfig) => void = () => {}): Promise<TestProxy> {
  return startTestProxy(rules.dir, (config) => {
    config.hosts.set('app.test', ['127.0.0.1']);
    config.hosts.set('echo.test', ['127.0.0.1']);
    adjust(config);
  });
}

const stateFile = (): string => path.join(rules.dir, '.state', 'quarantine.json');

async function getApp(test: TestProxy, extra: string[] = []): Promise<number> {
  return (await curl(['-x', test.httpUrl, ...extra, `http://app.test:${upstream.port}/`])).status;
}

async function mine(test: TestProxy): Promise<void> {
  const result = await curl(['-x', test.httpUrl, '-H', 'Chokepoint-Tags: run=r7, episode=3, step=41', '-H', 'Content-Type: application/json', '--data-binary', GETWORK, `http://app.test:${upstream.port}/`]);
  expect(JSON.parse(result.body)).toMatchObject({ rule: 'detection.stratum' });
}

const hook = (url: string, extra: Partial<WebhookConfig> = {}): WebhookConfig => ({
  url, headers: {}, timeoutMs: 5_000, on: ['quarantined', 'released'], retries: 3, backoffMs: 20, ...extra,
});

describe('quarantine expiry', () => {
  it('a detection-triggered quarantine with a per-kind duration lapses by itself, with agent.released "expired"', async () => {
    proxy = await start((config) => (config.quarantine.durationsS = { stratum: 1 }));
    const released = nextEvent(proxy.log, (e) => e.event.action === 'agent.released', 30_000);
    await mine(proxy);
    const entered = await proxy.log.waitFor((e) => e.event.action === 'agent.quarantined');
    const expiresAt = entered.chokepoint.details?.expires_at;
    expect(typeof expiresAt).toBe('string');
    const refused = await curl(['-x', proxy.httpUrl, `http://app.test:${upstream.port}/`]);
    // Unless the one second already passed on this busy machine, the agent is refused and told until when.
    if (proxy.log.named('agent.released').length === 0) {
      expect(refused.status).toBe(403);
      expect(JSON.parse(refused.body).reason).toContain(`until ${String(expiresAt)}`);
    }
    const event = await released;
    expect(event.chokepoint.agent).toBe('coder');
    expect(event.event.reason).toBe('expired');
    expect(event.chokepoint.details).toMatchObject({ trigger: 'stratum', expires_at: expiresAt });
    expect(await getApp(proxy)).toBe(200);
    expect(proxy.proxy.pipeline.quarantine.list()).toEqual([]);
  });

  it('without a configured duration a quarantine stays until released', async () => {
    proxy = await start();
    await mine(proxy);
    const entered = await proxy.log.waitFor((e) => e.event.action === 'agent.quarantined');
    expect(entered.chokepoint.details?.expires_at).toBeNull();
    expect(proxy.proxy.pipeline.quarantine.get('coder')?.expiresAt).toBeUndefined();
  });

  it('an entry that expired while the proxy was down is released at start-up; others are kept, and lapse later', async () => {
    await mkdir(path.dirname(stateFile()), { recursive: true });
    await writeFile(stateFile(), JSON.stringify({
      version: 1,
      quarantined: [
        { agent: 'old', since: '2026-01-01T00:00:00.000Z', reason: 'stratum: pool login', trigger: 'stratum', expiresAt: '2026-01-01T01:00:00.000Z' },
        { agent: 'keeper', since: new Date().toISOString(), reason: 'operator', trigger: 'operator', expiresAt: new Date(Date.now() + 3_600_000).toISOString() },
        { agent: 'coder', since: new Date().toISOString(), reason: 'operator', trigger: 'operator', expiresAt: new Date(Date.now() + 1500).toISOString() },
      ],
    }));
    proxy = await start();
    const started = proxy.log.named('proxy.started')[0];
    const old = proxy.log.named('agent.released').find((e) => e.chokepoint.agent === 'old');
    expect(old?.event.reason).toBe('expired');
    // After proxy.started: a hash chain may only begin with it (verify-log).
    expect(old?.event.sequence).toBeGreaterThan(started?.event.sequence ?? 0);
    expect(JSON.parse(await readFile(stateFile(), 'utf8')).quarantined.map((entry: { agent: string }) => entry.agent)).not.toContain('old');
    // `coder` lapses 1.5 s after it was written: at start-up on a slow machine, or later by the timer.
    const lapse = await proxy.log.waitFor((e) => e.event.action === 'agent.released' && e.chokepoint.agent === 'coder', 30_000);
    expect(lapse.event.reason).toBe('expired');
    expect(await getApp(proxy)).toBe(200);
    expect(proxy.proxy.pipeline.quarantine.list().map((entry) => entry.agent)).toEqual(['keeper']);
  });
});

describe('chokepoint quarantine add', () => {
  it('quarantines from the command line: a running proxy applies it on reload, closing live flows; release lifts it', async () => {
    requireBuiltCli();
    proxy = await start();
    const tunnel = await connectTunnel(Number(new URL(proxy.httpUrl).port), `echo.test:${echo.port}`);
    expect(tunnel.status).toBe(200);
    const state = path.join(rules.dir, '.state');
    const added = await runCli(['quarantine', 'add', 'coder', '--reason', 'eval harness paused it', '--for', '2h', '--state', state]);
    expect(added.code).toBe(0);
    expect(added.stdout).toMatch(/quarantined coder until \d{4}-/);
    const listed = await runCli(['quarantine', 'list', '--state', state]);
    expect(listed.stdout).toMatch(/^coder\tsince \S+\tuntil \S+\teval harness paused it$/m);
    expect((await runCli(['quarantine', 'add', 'coder', '--state', state])).code).toBe(1);
    expect((await runCli(['quarantine', 'add', 'coder', '--for', 'soon', '--state', state])).code).toBe(2);

    // The state folder lies inside the test's rules directory, so the watcher may reload first.
    await proxy.proxy.reload('test');
    const entered = await proxy.log.waitFor((e) => e.event.action === 'agent.quarantined');
    expect(entered.chokepoint.details).toMatchObject({ trigger: 'operator' });
    await whenClosed(tunnel.socket);
    const refused = await curl(['-x', proxy.httpUrl, `http://app.test:${upstream.port}/`]);
    expect(refused.status).toBe(403);
    const entry = proxy.proxy.pipeline.quarantine.get('coder');
    expect(JSON.parse(refused.body).reason).toBe(`agent coder is quarantined since ${entry?.since} (eval harness paused it); all egress is refused until ${entry?.expiresAt}`);

    expect((await runCli(['quarantine', 'release', 'coder', '--state', state])).code).toBe(0);
    await proxy.proxy.reload('test');
    const released = await proxy.log.waitFor((e) => e.event.action === 'agent.released');
    expect(released.event.reason).toBe('released by operator');
    expect(await getApp(proxy)).toBe(200);
  });
});

describe('quarantine webhooks', () => {
  it('posts the agent, reason, detection, flow and tags (secrets from env and file), then the release', async () => {
    const receiver = await webhookReceiver();
    receivers.push(receiver);
    const secretFile = path.join(rules.dir, '.state-secret');
    await writeFile(secretFile, 'file-secret\n');
    process.env.CHOKEPOINT_TEST_HOOK_TOKEN = 'env-secret';
    proxy = await start((config) => {
      config.quarantine.webhooks = [hook(receiver.url, { headers: { Authorization: 'Bearer ${env:CHOKEPOINT_TEST_HOOK_TOKEN}', 'X-Other': '${file:' + secretFile + '}' } })];
    });
    await mine(proxy);
    const quarantined = await receiver.waitFor((h) => (h.body as { event?: string }).event === 'quarantined');
    expect(quarantined.headers.authorization).toBe('Bearer env-secret');
    expect(quarantined.headers['x-other']).toBe('file-secret');
    expect(quarantined.body).toMatchObject({
      agent: 'coder', trigger: 'stratum', rule: 'detection.stratum', tags: { run: 'r7', episode: '3', step: '41' }, expires_at: null,
    });
    const detection = proxy.log.named('detection.stratum')[0];
    expect((quarantined.body as { flow_id?: string }).flow_id).toBe(detection?.chokepoint.flow_id);
    await proxy.proxy.pipeline.quarantines.release('coder');
    const released = await receiver.waitFor((h) => (h.body as { event?: string }).event === 'released');
    expect(released.body).toMatchObject({ agent: 'coder', reason: 'released by operator', tags: { run: 'r7' }, rule: 'detection.stratum' });
    const delivered = await proxy.log.waitFor((e) => e.event.action === 'quarantine.webhook_delivered');
    expect(JSON.stringify(delivered)).not.toContain('env-secret');
    delete process.env.CHOKEPOINT_TEST_HOOK_TOKEN;
  });

  it('retries with backoff while the receiver is down and delivers once it is back', async () => {
    // "Down": a listener that resets every connection; once it has refused one, the real receiver takes the port.
    let refusals = 0;
    let receiverUp: Promise<WebhookReceiver> | undefined;
    const down = net.createServer((socket) => {
      refusals += 1;
      socket.resetAndDestroy();
      if (refusals === 1) receiverUp = new Promise((resolve) => down.close(() => resolve(webhookReceiver(() => 200, port))));
    });
    await new Promise<void>((resolve) => down.listen(0, '127.0.0.1', resolve));
    const port = (down.address() as net.AddressInfo).port;
    proxy = await start((config) => (config.quarantine.webhooks = [hook(`http://127.0.0.1:${port}/pause`, { retries: 20, backoffMs: 50 })]));
    proxy.proxy.pipeline.quarantines.enter({ agent: 'coder', reason: 'test', trigger: 'operator' });
    const delivered = await proxy.log.waitFor((e) => e.event.action === 'quarantine.webhook_delivered', 30_000);
    const receiver = await receiverUp;
    if (receiver) receivers.push(receiver);
    expect(refusals).toBe(1);
    expect(delivered.chokepoint.details).toMatchObject({ transition: 'quarantined', url: `http://127.0.0.1:${port}` });
    expect(delivered.chokepoint.details?.attempts).toBeGreaterThanOrEqual(2);
    expect(receiver?.received).toHaveLength(1);
  });

  it('a receiver that never answers times out: quarantine.webhook_failed after the bounded retries, the quarantine unaffected', async () => {
    const receiver = await webhookReceiver(() => 'hang');
    receivers.push(receiver);
    proxy = await start((config) => (config.quarantine.webhooks = [hook(`${receiver.url}/T0/B0/path-secret?token=do-not-log`, { timeoutMs: 100, retries: 1, on: ['quarantined'] })]));
    const failed = nextEvent(proxy.log, (e) => e.event.action === 'quarantine.webhook_failed', 30_000);
    proxy.proxy.pipeline.quarantines.enter({ agent: 'coder', reason: 'test', trigger: 'operator' });
    expect(await getApp(proxy)).toBe(403);
    const event = await failed;
    // Only the origin: a token may sit in the query, the user info or the path (Slack-style hook URLs).
    expect(event.chokepoint.details).toMatchObject({ attempts: 2, error: 'no answer within 100 ms', url: `http://127.0.0.1:${receiver.port}` });
    expect(JSON.stringify(event)).not.toContain('do-not-log');
    expect(JSON.stringify(event)).not.toContain('path-secret');
    expect(receiver.received).toHaveLength(2);
    // `on: [quarantined]` only: the release is not posted.
    await proxy.proxy.pipeline.quarantines.release('coder');
    await proxy.proxy.pipeline.quarantines.webhooksIdle();
    expect(receiver.received).toHaveLength(2);
  });
});
