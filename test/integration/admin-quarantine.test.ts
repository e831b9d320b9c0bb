import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminCall, adminToken } from '../helpers/admin.js';
import { nextEvent } from '../helpers/event-waits.js';
import { startTestProxy, type TestProxy } from '../helpers/proxy.js';
import { connectTunnel, echoRoundTrip, whenClosed } from '../helpers/raw-clients.js';
import { DENY_UNKNOWN_POLICY, tempRules, type TempRules } from '../helpers/rules.js';
import { echoUpstream, type Upstream } from '../helpers/upstreams.js';

/**
 * Quarantine through the admin API: live flows of the agent close at once, new ones are refused, the
 * state survives a restart of the proxy, and a release through the API applies without a reload.
 */
describe('admin API quarantine', () => {
  let rules: TempRules;
  let echo: Upstream;
  let proxy: TestProxy | undefined;
  const token = adminToken();

  const start = (): Promise<TestProxy> =>
    startTestProxy(rules.dir, (config) => {
      config.hosts.set('echo.test', ['127.0.0.1']);
      config.listen.admin = { host: '127.0.0.1', port: 0 };
      config.admin = { token };
    });
  const adminPort = (): number => proxy?.proxy.admin?.port ?? 0;
  const proxyPort = (): number => proxy?.proxy.http?.port ?? 0;

  beforeAll(async () => {
    echo = await echoUpstream();
    rules = await tempRules(DENY_UNKNOWN_POLICY, {
      coder: `agent: coder
identify: { sources: ["127.0.0.1/32"] }
allow:
  - { host: echo.test, ports: [${echo.port}] }
  - { cidr: 127.0.0.1/32, ports: [${echo.port}] }
`,
    });
    proxy = await start();
  });
  afterAll(async () => {
    await proxy?.stop();
    await echo.close();
    await rules.remove();
  });

  it('quarantines: live tunnels close, new ones are refused, and it survives a restart; release applies at once', async () => {
    const tunnel = await connectTunnel(proxyPort(), `echo.test:${echo.port}`);
    expect(tunnel.status).toBe(200);
    expect((await echoRoundTrip(tunnel.socket, 'before')).toString()).toBe('before');

    const quarantined = nextEvent(proxy!.log, (event) => event.event.action === 'agent.quarantined');
    const closed = nextEvent(proxy!.log, (event) => event.event.action === 'flow.closed' && event.chokepoint.agent === 'coder');
    const answer = await adminCall(adminPort(), 'POST', '/v1/quarantine', { token, body: { agent: 'coder', reason: 'operator saw exfiltration' } });
    expect(answer.status).toBe(201);
    expect(answer.json).toMatchObject({ already: false, quarantined: { agent: 'coder', reason: 'operator saw exfiltration', trigger: 'operator' } });
    await whenClosed(tunnel.socket);
    expect((await closed).event.reason).toBe('agent coder is quarantined');
    expect((await quarantined).event.reason).toContain('operator saw exfiltration');

    const decided = await adminCall(adminPort(), 'POST', '/v1/decide', { token, body: { agent: 'coder', target: `echo.test:${echo.port}` } });
    expect(decided.json).toMatchObject({ action: 'deny', rule: 'quarantine', stage: 'quarantine' });
    const refused = await connectTunnel(proxyPort(), `echo.test:${echo.port}`);
    expect(refused.status).toBe(403);
    expect(refused.body).toContain('quarantined');

    const again = await adminCall(adminPort(), 'POST', '/v1/quarantine', { token, body: { agent: 'coder', reason: 'twice' } });
    expect(again.status).toBe(200);
    expect(again.json).toMatchObject({ already: true, quarantined: { reason: 'operator saw exfiltration' } });

    await proxy!.stop();
    proxy = undefined;
    proxy = await start();

    const listed = await adminCall(adminPort(), 'GET', '/v1/quarantine', { token });
    expect(listed.json).toMatchObject({ quarantined: [{ agent: 'coder', reason: 'operator saw exfiltration' }] });
    const agents = await adminCall(adminPort(), 'GET', '/v1/agents', { token });
    expect((agents.json?.agents as Array<Record<string, unknown>>).find((agent) => agent.name === 'coder')).toMatchObject({ quarantine: { reason: 'operator saw exfiltration' } });
    expect((await connectTunnel(proxyPort(), `echo.test:${echo.port}`)).status).toBe(403);

    const released = nextEvent(proxy.log, (event) => event.event.action === 'agent.released');
    const release = await adminCall(adminPort(), 'DELETE', '/v1/quarantine/coder', { token });
    expect(release.status).toBe(200);
    expect(release.json).toEqual({ released: 'coder' });
    expect((await released).chokepoint.agent).toBe('coder');
    const reopened = await connectTunnel(proxyPort(), `echo.test:${echo.port}`);
    expect(reopened.status).toBe(200);
    reopened.socket.destroy();

    expect((await adminCall(adminPort(), 'DELETE', '/v1/quarantine/coder', { token })).status).toBe(404);
  });

  it('refuses bad quarantine requests', async () => {
    const noReason = await adminCall(adminPort(), 'POST', '/v1/quarantine', { token, body: { agent: 'coder' } });
    expect(noReason.status).toBe(400);
    expect(noReason.json?.message).toContain('reason');
    const extra = await adminCall(adminPort(), 'POST', '/v1/quarantine', { token, body: { agent: 'coder', reason: 'x', until: 'never' } });
    expect(extra.status).toBe(400);
    const nobody = await adminCall(adminPort(), 'POST', '/v1/quarantine', { token, body: { agent: 'nobody', reason: 'x' } });
    expect(nobody.status).toBe(404);
    const empty = await adminCall(adminPort(), 'POST', '/v1/quarantine', { token });
    expect(empty.status).toBe(400);
    expect((await adminCall(adminPort(), 'GET', '/v1/quarantine', { token })).json).toEqual({ quarantined: [] });
  });
});
