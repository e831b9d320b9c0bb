import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { curl } from '../helpers/curl.js';
import { startTestProxy, type TestProxy } from '../helpers/proxy.js';
import { DENY_UNKNOWN_POLICY, tempRules, type TempRules } from '../helpers/rules.js';
import { httpUpstream, type Upstream } from '../helpers/upstreams.js';

describe('HTTP forward proxy (absolute-URI) with real curl', () => {
  let rules: TempRules;
  let proxy: TestProxy;
  let upstream: Upstream;

  beforeAll(async () => {
    upstream = await httpUpstream();
    rules = await tempRules(DENY_UNKNOWN_POLICY, {
      coder: `agent: coder
identify: { sources: ["127.0.0.1/32"] }
allow:
  - { host: app.test, ports: [${upstream.port}] }
  - { cidr: 127.0.0.1/32, ports: [${upstream.port}] }
  - { host: tlsonly.test, ports: [${upstream.port}], protocols: [tls] }
  - { cidr: ::1/128, ports: [${upstream.port}] }
deny:
  - { host: secret.app.test, reason: "secrets stay inside" }
`,
    });
    proxy = await startTestProxy(rules.dir, (config) => {
      config.stateDir = path.join(rules.dir, 'state');
      config.hosts.set('app.test', ['127.0.0.1']);
      config.hosts.set('secret.app.test', ['127.0.0.1']);
      config.hosts.set('tlsonly.test', ['127.0.0.1']);
      // Nothing listens on [::1] at the upstream's port: the first vetted address does not answer.
      config.hosts.set('dual.test', ['::1', '127.0.0.1']);
    });
  });
  afterAll(async () => {
    await proxy.stop();
    await upstream.close();
    await rules.remove();
  });

  it('forwards a GET, keeps Host, and strips proxy headers', async () => {
    const result = await curl([
      '-x', proxy.httpUrl, '-H', 'Chokepoint-Tags: run=r1, episode=7', '-H', 'Connection: keep-alive, X-Hop',
      '-H', 'X-Hop: drop-me', `http://app.test:${upstream.port}/path?q=1`,
    ]);
    expect(result.status).toBe(200);
    expect(result.body).toBe('hello from upstream\n');
    const seen = upstream.requests.at(-1);
    expect(seen?.url).toBe('/path?q=1');
    expect(seen?.headers.host).toBe(`app.test:${upstream.port}`);
    expect(seen?.headers['chokepoint-tags']).toBeUndefined();
    expect(seen?.headers['x-hop']).toBeUndefined();
    expect(seen?.headers['x-forwarded-for']).toBeUndefined();
    const allowed = await proxy.log.waitFor((e) => e.event.action === 'flow.allowed' && e.destination?.domain === 'app.test');
    expect(allowed.chokepoint.agent).toBe('coder');
    expect(allowed.labels).toEqual({ run: 'r1', episode: '7' });
    const closed = await proxy.log.waitFor((e) => e.event.action === 'flow.closed' && e.chokepoint.flow_id === allowed.chokepoint.flow_id);
    expect(closed.destination?.bytes).toBeGreaterThan(0);
    expect(closed.event.duration).toBeGreaterThan(0);
    expect(closed.labels).toEqual({ run: 'r1', episode: '7' });
  });

  it('tries every vetted address, as tunnels do, when the first does not answer', async () => {
    const result = await curl(['-x', proxy.httpUrl, `http://dual.test:${upstream.port}/dual`]);
    expect(result.status).toBe(200);
    expect(upstream.requests.at(-1)?.url).toBe('/dual');
    const closed = await proxy.log.waitFor((e) => e.event.action === 'flow.closed' && e.url?.full === `http://dual.test:${upstream.port}/dual`);
    expect(closed.destination?.ip).toBe('127.0.0.1');
  });

  it('reuses the client connection (keep-alive) across requests', async () => {
    const url = `http://app.test:${upstream.port}/`;
    const result = await curl(['-v', '-x', proxy.httpUrl, url, url, url]);
    expect(result.body.match(/hello from upstream/g)).toHaveLength(3);
    expect(result.stderr).toMatch(/Re-using existing connection/);
  });

  it('streams a chunked request body upstream', async () => {
    const payload = 'x'.repeat(200_000);
    const file = path.join(rules.dir, 'payload.bin');
    await writeFile(file, payload);
    const result = await curl(['-x', proxy.httpUrl, '-H', 'Transfer-Encoding: chunked', '--data-binary', `@${file}`, `http://app.test:${upstream.port}/upload`]);
    expect(result.status).toBe(200);
    const seen = upstream.requests.find((r) => r.url === '/upload');
    expect(seen?.body.length).toBe(payload.length);
  });

  it('denies with a 403 JSON body the agent can read, and never reaches upstream', async () => {
    const before = upstream.connections;
    const result = await curl(['-x', proxy.httpUrl, `http://secret.app.test:${upstream.port}/`]);
    expect(result.status).toBe(403);
    const body = JSON.parse(result.body) as Record<string, string>;
    expect(body).toMatchObject({ error: 'denied', reason: 'secrets stay inside', rule: 'coder.deny.0', agent: 'coder' });
    expect(body.flow).toMatch(/^[0-9a-f-]{36}$/);
    expect(upstream.connections).toBe(before);
  });

  it('answers 502 with a reason when the upstream refuses the connection', async () => {
    const closed = await httpUpstream();
    const port = closed.port;
    await closed.close();
    await rules.writeAgent('coder', `agent: coder
identify: { sources: ["127.0.0.1/32"] }
allow:
  - { host: app.test, ports: [${upstream.port}, ${port}] }
  - { cidr: 127.0.0.1/32, ports: [${upstream.port}, ${port}] }
  - { host: tlsonly.test, ports: [${upstream.port}], protocols: [tls] }
deny:
  - { host: secret.app.test, reason: "secrets stay inside" }
`);
    expect((await proxy.proxy.reload('test')).ok).toBe(true);
    const result = await curl(['-x', proxy.httpUrl, `http://app.test:${port}/`]);
    expect(result.status).toBe(502);
    expect(JSON.parse(result.body)).toMatchObject({ error: 'upstream_unreachable' });
  });

  it('judges the protocol of plain-HTTP requests too: a rule limited to TLS refuses them, and the close event says http', async () => {
    const before = upstream.requests.length;
    const refused = await curl(['-x', proxy.httpUrl, `http://tlsonly.test:${upstream.port}/`]);
    expect(refused.status).toBe(403);
    expect(JSON.parse(refused.body)).toMatchObject({ rule: 'detection.protocol_not_allowed' });
    expect(upstream.requests.length).toBe(before);
    await curl(['-x', proxy.httpUrl, `http://app.test:${upstream.port}/facts`]);
    const closed = await proxy.log.waitFor((e) => e.event.action === 'flow.closed' && e.url?.full === `http://app.test:${upstream.port}/facts`);
    expect(closed.network?.protocol).toBe('http');
    expect(closed.chokepoint.classification?.http).toMatchObject({ method: 'GET', host: `app.test:${upstream.port}` });
  });

  it('inspects the request before forwarding it: a getwork POST never reaches the pool and quarantines the agent', async () => {
    const before = upstream.requests.length;
    const body = JSON.stringify({ method: 'getblocktemplate', params: [{ capabilities: ['coinbasetxn', 'workid'] }], id: 0 });
    const result = await curl(['-x', proxy.httpUrl, '-H', 'Content-Type: application/json', '-H', 'X-Mining-Extensions: longpoll midstate', '--data-binary', body, `http://app.test:${upstream.port}/`]);
    expect(result.status).toBe(403);
    expect(JSON.parse(result.body)).toMatchObject({ error: 'denied', rule: 'detection.stratum', agent: 'coder' });
    expect(upstream.requests.length).toBe(before);
    const detection = await proxy.log.waitFor((e) => e.event.action === 'detection.stratum');
    expect(detection.chokepoint.detection).toMatchObject({ kind: 'stratum', action: 'quarantine' });
    await proxy.log.waitFor((e) => e.event.action === 'agent.quarantined' && e.chokepoint.agent === 'coder');
    // Quarantined: even an innocent request is refused now, until an operator releases the agent.
    const after = await curl(['-x', proxy.httpUrl, `http://app.test:${upstream.port}/`]);
    expect(after.status).toBe(403);
    expect(JSON.parse(after.body)).toMatchObject({ rule: 'quarantine' });
    await proxy.proxy.pipeline.quarantine.release('coder');
    expect((await curl(['-x', proxy.httpUrl, `http://app.test:${upstream.port}/`])).status).toBe(200);
  });

  it('rejects origin-form and https absolute URIs with a 400 that says what to do', async () => {
    const origin = await curl([`${proxy.httpUrl}/just/a/path`]);
    expect(origin.status).toBe(400);
    expect(JSON.parse(origin.body).reason).toMatch(/forward proxy/);
  });
});
