import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChokepointEvent } from '../../src/events/types.js';
import { adminCall, adminToken } from '../helpers/admin.js';
import { curl } from '../helpers/curl.js';
import { nextEvent } from '../helpers/event-waits.js';
import { startTestProxy, type TestProxy } from '../helpers/proxy.js';
import { connectTo, connectTunnel, echoRoundTrip, sendRaw, whenClosed } from '../helpers/raw-clients.js';
import { DENY_UNKNOWN_POLICY, tempRules, type TempRules } from '../helpers/rules.js';
import { echoUpstream, httpUpstream, type Upstream } from '../helpers/upstreams.js';

/**
 * The admin API over real HTTP against a real proxy: authentication on every route but health, each
 * route's answer and its refusals of bad input, markers riding on a real curl flow, killing a live
 * CONNECT tunnel, reload.
 */

const BUILDER_TOKEN = 'builder-secret-token-0123456789';
const BUILDER_HASH = createHash('sha256').update(BUILDER_TOKEN).digest('hex');

describe('admin API', () => {
  let rules: TempRules;
  let proxy: TestProxy;
  let echo: Upstream;
  let web: Upstream;
  let token: string;
  let adminPort: number;
  let proxyPort: number;

  const agentsYaml = (): Record<string, string> => ({
    coder: `agent: coder
identify: { sources: ["127.0.0.1/32"] }
allow:
  - { host: echo.test, ports: [${echo.port}] }
  - { host: web.test, ports: [${web.port}] }
  - { cidr: 127.0.0.1/32, ports: [${echo.port}, ${web.port}] }
deny:
  - { host: blocked.test, reason: "blocked.test is off limits" }
`,
    builder: `agent: builder
mode: audit
identify:
  credentials: [{ user: builder, token_sha256: "${BUILDER_HASH}" }]
allow:
  - { host: web.test, ports: [${web.port}] }
  - { cidr: 127.0.0.1/32, ports: [${web.port}] }
`,
  });

  beforeAll(async () => {
    echo = await echoUpstream();
    web = await httpUpstream();
    rules = await tempRules(DENY_UNKNOWN_POLICY, agentsYaml());
    token = adminToken();
    proxy = await startTestProxy(rules.dir, (config) => {
      config.hosts.set('echo.test', ['127.0.0.1']);
      config.hosts.set('web.test', ['127.0.0.1']);
      config.hosts.set('blocked.test', ['127.0.0.1']);
      config.listen.admin = { host: '127.0.0.1', port: 0 };
      config.admin = { token };
    });
    adminPort = proxy.proxy.admin?.port ?? 0;
    proxyPort = proxy.proxy.http?.port ?? 0;
  });
  afterAll(async () => {
    await proxy.stop();
    await Promise.all([echo.close(), web.close()]);
    await rules.remove();
  });

  const ROUTES: Array<[string, string]> = [
    ['GET', '/v1/ready'],
    ['POST', '/v1/reload'],
    ['POST', '/v1/decide'],
    ['GET', '/v1/agents'],
    ['GET', '/v1/flows'],
    ['DELETE', '/v1/flows/some-id'],
    ['GET', '/v1/quarantine'],
    ['POST', '/v1/quarantine'],
    ['DELETE', '/v1/quarantine/coder'],
    ['POST', '/v1/markers'],
    ['GET', '/metrics'],
  ];

  it('answers health without a token and nothing else without the right one', async () => {
    const health = await adminCall(adminPort, 'GET', '/v1/health');
    expect(health.status).toBe(200);
    expect(health.json).toEqual({ status: 'ok' });
    for (const [method, path] of ROUTES) {
      const body = method === 'GET' ? {} : { body: { agent: 'coder' } };
      const missing = await adminCall(adminPort, method, path, body);
      expect(missing.status, `${method} ${path} without a token`).toBe(401);
      expect(missing.headers.get('www-authenticate')).toMatch(/^Bearer realm=/);
      expect(missing.json?.error).toBe('unauthorized');
      const wrong = await adminCall(adminPort, method, path, { token: `${token}x`, ...body });
      expect(wrong.status, `${method} ${path} with a wrong token`).toBe(401);
      expect(wrong.headers.get('www-authenticate')).toContain('invalid_token');
      expect(wrong.text).not.toContain(token);
    }
    // A route with the right token is not a 401 (each route's answer is tested below).
    expect((await adminCall(adminPort, 'GET', '/v1/ready', { token })).status).toBe(200);
  });

  it('says 404 for unknown paths and 405 with Allow for a wrong method', async () => {
    const unknown = await adminCall(adminPort, 'GET', '/v1/nothing', { token });
    expect(unknown.status).toBe(404);
    expect(unknown.json?.error).toBe('not_found');
    const wrongMethod = await adminCall(adminPort, 'GET', '/v1/decide', { token });
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get('allow')).toBe('POST');
    expect(wrongMethod.json?.error).toBe('method_not_allowed');
  });

  it('reports readiness with its checks', async () => {
    const ready = await adminCall(adminPort, 'GET', '/v1/ready', { token });
    expect(ready.json).toEqual({ ready: true, checks: { rules_loaded: true, listeners_bound: true, stopping: false } });
  });

  it('decides dry-run like the pipeline: allow, rule deny, SSRF on an IP target, protocol', async () => {
    const allowed = await adminCall(adminPort, 'POST', '/v1/decide', { token, body: { agent: 'coder', target: `echo.test:${echo.port}` } });
    expect(allowed.status).toBe(200);
    expect(allowed.json).toMatchObject({ action: 'allow', rule: 'coder.allow.0', stage: 'address', addresses: ['127.0.0.1'] });

    const denied = await adminCall(adminPort, 'POST', '/v1/decide', { token, body: { agent: 'coder', target: { host: 'blocked.test', port: 443 } } });
    expect(denied.json).toMatchObject({ action: 'deny', enforced: true, stage: 'name', reason: expect.stringContaining('off limits') });

    const metadata = await adminCall(adminPort, 'POST', '/v1/decide', { token, body: { agent: 'coder', target: '169.254.169.254:80' } });
    expect(metadata.json).toMatchObject({ action: 'deny', rule: expect.stringMatching(/^(ssrf\.|default-deny)/) });

    const ssh = await adminCall(adminPort, 'POST', '/v1/decide', { token, body: { agent: 'coder', target: `echo.test:${echo.port}`, protocol: 'ssh' } });
    expect(ssh.json).toMatchObject({ action: 'deny', rule: 'detection.ssh_not_allowed', stage: 'protocol' });

    const audit = await adminCall(adminPort, 'POST', '/v1/decide', { token, body: { agent: 'builder', target: 'blocked.test:443' } });
    expect(audit.json).toMatchObject({ action: 'deny', enforced: false, mode: 'audit' });
  });

  it('decides an IP in a special range as SSRF even where a host rule allows the port', async () => {
    const loopback = await adminCall(adminPort, 'POST', '/v1/decide', { token, body: { agent: 'coder', target: `127.0.0.2:${echo.port}` } });
    expect(loopback.json).toMatchObject({ action: 'deny', rule: 'ssrf.loopback', stage: 'address' });
  });

  it('refuses bad decide input with 400, an unknown agent with 404, a huge body with 413', async () => {
    const badJson = await adminCall(adminPort, 'POST', '/v1/decide', { token, rawBody: '{"agent": ' });
    expect(badJson.status).toBe(400);
    expect(badJson.json?.error).toBe('bad_json');
    const missing = await adminCall(adminPort, 'POST', '/v1/decide', { token, body: { agent: 'coder' } });
    expect(missing.status).toBe(400);
    expect(missing.json).toMatchObject({ error: 'invalid_request', message: expect.stringContaining('target') });
    const badTarget = await adminCall(adminPort, 'POST', '/v1/decide', { token, body: { agent: 'coder', target: 'no-port' } });
    expect(badTarget.status).toBe(400);
    const badProtocol = await adminCall(adminPort, 'POST', '/v1/decide', { token, body: { agent: 'coder', target: 'a.test:1', protocol: 'gopher' } });
    expect(badProtocol.status).toBe(400);
    expect(badProtocol.json?.message).toContain('protocol');
    const nobody = await adminCall(adminPort, 'POST', '/v1/decide', { token, body: { agent: 'nobody', target: 'a.test:443' } });
    expect(nobody.status).toBe(404);
    expect(nobody.json?.error).toBe('unknown_agent');
    const huge = await adminCall(adminPort, 'POST', '/v1/decide', { token, rawBody: JSON.stringify({ agent: 'x'.repeat(100_000) }) });
    expect(huge.status).toBe(413);
    expect(huge.json?.error).toBe('body_too_large');
  });

  it('lists agents with identity summaries but never a token hash', async () => {
    const answer = await adminCall(adminPort, 'GET', '/v1/agents', { token });
    expect(answer.status).toBe(200);
    const agents = answer.json?.agents as Array<Record<string, unknown>>;
    expect(agents.map((agent) => agent.name).sort()).toEqual(['builder', 'coder', 'unknown']);
    expect(agents.find((agent) => agent.name === 'builder')).toMatchObject({ mode: 'audit', identity: { credential_users: ['builder'], sources: [] }, quarantine: null });
    expect(answer.text).not.toContain(BUILDER_HASH);
  });

  it('puts a training-step marker on every later event of the agent; per-flow tags win', async () => {
    const set = nextEvent(proxy.log, (event) => event.event.action === 'marker.set');
    const posted = await adminCall(adminPort, 'POST', '/v1/markers', { token, body: { agent: 'coder', run: 'r1', episode: 3, step: 17 } });
    expect(posted.status).toBe(200);
    expect(posted.json).toMatchObject({ agent: 'coder', labels: { run: 'r1', episode: '3', step: '17' } });
    expect((await set).labels).toEqual({ run: 'r1', episode: '3', step: '17' });

    const allowed = nextEvent(proxy.log, (event) => event.event.action === 'flow.allowed' && event.chokepoint.agent === 'coder');
    const closed = nextEvent(proxy.log, (event) => event.event.action === 'flow.closed' && event.chokepoint.agent === 'coder');
    const result = await curl(['--proxy', `http://127.0.0.1:${proxyPort}`, '-H', 'Chokepoint-Tags: step=99, call=c1', `http://web.test:${web.port}/`]);
    expect(result.status).toBe(200);
    expect((await allowed).labels).toEqual({ run: 'r1', episode: '3', step: '99', call: 'c1' });
    expect((await closed).labels).toMatchObject({ run: 'r1', step: '99' });

    // The next marker replaces the previous one; other agents never carry it.
    await adminCall(adminPort, 'POST', '/v1/markers', { token, body: { agent: 'coder', run: 'r1', step: 18 } });
    const next = nextEvent(proxy.log, (event) => event.event.action === 'flow.allowed' && event.chokepoint.agent === 'coder');
    await curl(['--proxy', `http://127.0.0.1:${proxyPort}`, `http://web.test:${web.port}/`]);
    expect((await next).labels).toEqual({ run: 'r1', step: '18' });
    const builderFlow = nextEvent(proxy.log, (event) => event.chokepoint.agent === 'builder' && event.event.action === 'flow.allowed');
    await curl(['--proxy', `http://builder:${BUILDER_TOKEN}@127.0.0.1:${proxyPort}`, `http://web.test:${web.port}/`]);
    expect((await builderFlow).labels).toBeUndefined();

    const agents = await adminCall(adminPort, 'GET', '/v1/agents', { token });
    const coder = (agents.json?.agents as Array<Record<string, unknown>>).find((agent) => agent.name === 'coder');
    expect(coder?.marker).toMatchObject({ labels: { run: 'r1', step: '18' } });
  });

  it('refuses bad markers: label syntax, unknown agent, missing agent', async () => {
    const spaced = await adminCall(adminPort, 'POST', '/v1/markers', { token, body: { agent: 'coder', step: 'has space' } });
    expect(spaced.status).toBe(400);
    expect(spaced.json?.message).toContain('step');
    const badKey = await adminCall(adminPort, 'POST', '/v1/markers', { token, body: { agent: 'coder', 'Bad Key': 'x' } });
    expect(badKey.status).toBe(400);
    const nested = await adminCall(adminPort, 'POST', '/v1/markers', { token, body: { agent: 'coder', step: { n: 1 } } });
    expect(nested.status).toBe(400);
    const nobody = await adminCall(adminPort, 'POST', '/v1/markers', { token, body: { agent: 'nobody', step: 1 } });
    expect(nobody.status).toBe(404);
    const noAgent = await adminCall(adminPort, 'POST', '/v1/markers', { token, body: { step: 1 } });
    expect(noAgent.status).toBe(400);
  });

  it('lists a live CONNECT tunnel and kills it: the client is disconnected, flow.killed and flow.closed follow', async () => {
    const tunnel = await connectTunnel(proxyPort, `echo.test:${echo.port}`);
    expect(tunnel.status).toBe(200);
    expect((await echoRoundTrip(tunnel.socket, 'ping-through-tunnel')).toString()).toBe('ping-through-tunnel');

    const listed = await adminCall(adminPort, 'GET', '/v1/flows?agent=coder', { token });
    const flows = listed.json?.flows as Array<Record<string, unknown>>;
    const flow = flows.find((candidate) => (candidate.target as { host?: string }).host === 'echo.test');
    expect(flow).toMatchObject({ agent: 'coder', entry: 'connect', target: { port: echo.port }, decision: { action: 'allow' } });
    expect((flow?.bytes as { up: number }).up).toBeGreaterThanOrEqual('ping-through-tunnel'.length);
    const id = String(flow?.id);

    const killed = nextEvent(proxy.log, (event) => event.event.action === 'flow.killed' && event.chokepoint.flow_id === id);
    const closed = nextEvent(proxy.log, (event) => event.event.action === 'flow.closed' && event.chokepoint.flow_id === id);
    const answer = await adminCall(adminPort, 'DELETE', `/v1/flows/${id}`, { token, body: { reason: 'suspicious' } });
    expect(answer.status).toBe(200);
    expect(answer.json).toMatchObject({ killed: id, agent: 'coder', reason: 'killed by operator: suspicious' });
    await whenClosed(tunnel.socket);
    expect((await killed).event.reason).toBe('killed by operator: suspicious');
    const close: ChokepointEvent = await closed;
    expect(close.event.reason).toBe('killed by operator: suspicious');
    expect(close.event.outcome).toBe('failure');

    const again = await adminCall(adminPort, 'DELETE', `/v1/flows/${id}`, { token });
    expect(again.status).toBe(404);
    const badBody = await adminCall(adminPort, 'DELETE', '/v1/flows/x', { token, body: { reason: 5 } });
    expect(badBody.status).toBe(400);
  });

  it('survives a client that leaves mid-body and garbage on the socket', async () => {
    const leaving = await connectTo(adminPort);
    leaving.write(`POST /v1/decide HTTP/1.1\r\nHost: admin\r\nAuthorization: Bearer ${token}\r\nContent-Length: 100\r\n\r\n{"agent"`);
    leaving.destroy();
    const garbage = await sendRaw(adminPort, 'NOT HTTP AT ALL\r\n\r\n');
    expect(garbage.toString()).toMatch(/^HTTP\/1\.1 400/);
    expect((await adminCall(adminPort, 'GET', '/v1/ready', { token })).status).toBe(200);
    expect(proxy.log.named('listener.error')).toEqual([]);
  });

  it('reloads the rules, and reports rejected rules with 422 while the old ones keep serving', async () => {
    const reloaded = nextEvent(proxy.log, (event) => event.event.action === 'config.reloaded');
    const ok = await adminCall(adminPort, 'POST', '/v1/reload', { token });
    expect(ok.status).toBe(200);
    expect(ok.json).toEqual({ reloaded: true });
    expect((await reloaded).chokepoint.details?.trigger).toBe('admin API');

    await rules.writeAgent('coder', 'agent: coder\nallow: [ { host: "not a host" } ]\n');
    try {
      const rejected = await adminCall(adminPort, 'POST', '/v1/reload', { token });
      expect(rejected.status).toBe(422);
      expect(rejected.json?.error).toBe('rules_rejected');
      expect(Array.isArray(rejected.json?.errors)).toBe(true);
    } finally {
      await rules.writeAgent('coder', agentsYaml().coder ?? '');
    }
    expect((await adminCall(adminPort, 'POST', '/v1/reload', { token })).status).toBe(200);
  });
});

describe('admin API start-up', () => {
  let rules: TempRules;
  beforeAll(async () => {
    rules = await tempRules(DENY_UNKNOWN_POLICY, {});
  });
  afterAll(() => rules.remove());

  it('refuses to start the admin listener without a token, or with a short one', async () => {
    const saved = process.env.CHOKEPOINT_ADMIN_TOKEN;
    delete process.env.CHOKEPOINT_ADMIN_TOKEN;
    try {
      await expect(startTestProxy(rules.dir, (config) => (config.listen.admin = { host: '127.0.0.1', port: 0 }))).rejects.toThrow(/admin listener needs a token/);
      await expect(
        startTestProxy(rules.dir, (config) => {
          config.listen.admin = { host: '127.0.0.1', port: 0 };
          config.admin = { token: 'short' };
        }),
      ).rejects.toThrow(/at least 16 characters/);
    } finally {
      if (saved !== undefined) process.env.CHOKEPOINT_ADMIN_TOKEN = saved;
    }
  });

  it('takes the token from CHOKEPOINT_ADMIN_TOKEN', async () => {
    const saved = process.env.CHOKEPOINT_ADMIN_TOKEN;
    const token = adminToken();
    process.env.CHOKEPOINT_ADMIN_TOKEN = token;
    try {
      const proxy = await startTestProxy(rules.dir, (config) => (config.listen.admin = { host: '127.0.0.1', port: 0 }));
      try {
        expect((await adminCall(proxy.proxy.admin?.port ?? 0, 'GET', '/v1/ready', { token })).status).toBe(200);
      } finally {
        await proxy.stop();
      }
    } finally {
      if (saved === undefined) delete process.env.CHOKEPOINT_ADMIN_TOKEN;
      else process.env.CHOKEPOINT_ADMIN_TOKEN = saved;
    }
  });
});
