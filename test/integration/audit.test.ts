/**
 * Audit mode: an audit agent's denied flows go through and are reported (`flow.denied` with
 * `chokepoint.enforced: false`); the same destination is refused for an enforce agent.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { curl } from '../helpers/curl.js';
import { admittedFlowOf, nextEvent } from '../helpers/event-waits.js';
import { startTestProxy, type TestProxy } from '../helpers/proxy.js';
import { connectTunnel, echoRoundTrip, whenClosed } from '../helpers/raw-clients.js';
import { DENY_UNKNOWN_POLICY, tempRules, type TempRules } from '../helpers/rules.js';
import { echoUpstream, httpUpstream, type Upstream } from '../helpers/upstreams.js';

const ENFORCER_TOKEN = 'enforcer-token';

describe('audit mode', () => {
  let rules: TempRules;
  let proxy: TestProxy;
  let app: Upstream;
  let echo: Awaited<ReturnType<typeof echoUpstream>>;

  beforeAll(async () => {
    [app, echo] = await Promise.all([httpUpstream(), echoUpstream()]);
    // Both agents allow only allowed.test (with the loopback CIDR that unlocks it) and deny secret.test
    // outright; other.test is denied by default. The auditor is this machine by source address; the
    // enforcer is told apart by proxy credentials.
    const body = (name: string, mode: string, identify: string): string => `agent: ${name}
mode: ${mode}
identify: ${identify}
allow:
  - { host: allowed.test, ports: [${app.port}] }
  - { cidr: 127.0.0.1/32, ports: [${app.port}] }
deny:
  - { host: secret.test, reason: "secret.test holds credentials" }
`;
    const digest = createHash('sha256').update(ENFORCER_TOKEN).digest('hex');
    rules = await tempRules(DENY_UNKNOWN_POLICY, {
      auditor: body('auditor', 'audit', '{ sources: ["127.0.0.1/32"] }'),
      enforcer: body('enforcer', 'enforce', `{ credentials: [{ user: enforcer, token_sha256: "${digest}" }] }`),
    });
    proxy = await startTestProxy(rules.dir, (config) => {
      for (const name of ['allowed.test', 'secret.test', 'other.test']) config.hosts.set(name, ['127.0.0.1']);
    });
  });
  afterAll(async () => {
    await proxy.stop();
    await Promise.all([app.close(), echo.close()]);
    await rules.remove();
  });

  it('lets an audit agent through a deny rule and reports flow.denied with enforced: false', async () => {
    const requestsBefore = app.requests.length;
    const denied = nextEvent(proxy.log, (event) => event.event.action === 'flow.denied' && event.destination?.domain === 'secret.test');
    const result = await curl(['-x', proxy.httpUrl, `http://secret.test:${app.port}/audited`]);
    expect(result.status).toBe(200);
    expect(result.body).toBe('hello from upstream\n');
    expect(app.requests.length).toBe(requestsBefore + 1);

    const event = await denied;
    expect(event.chokepoint).toMatchObject({ agent: 'auditor', agent_mode: 'audit', action: 'deny', enforced: false });
    expect(event.rule?.id).toBe('auditor.deny.0');
    expect(event.event.reason).toBe('secret.test holds credentials');
    // Reported, not alerted on: nothing was blocked.
    expect(event.event.kind).toBe('event');
    const closed = await proxy.log.waitFor((e) => e.event.action === 'flow.closed' && e.chokepoint.flow_id === event.chokepoint.flow_id);
    expect(closed.url?.status).toBe(200);
  });

  it('lets an audit agent tunnel to a destination no rule allows (default deny, loopback not unlocked)', async () => {
    const tunnel = await connectTunnel(proxy.proxy.http?.port ?? 0, `other.test:${echo.port}`);
    expect(tunnel.status).toBe(200);
    expect((await echoRoundTrip(tunnel.socket, 'audited bytes')).toString()).toBe('audited bytes');
    const event = admittedFlowOf(proxy.log, tunnel.socket.localPort);
    expect(event.event.action).toBe('flow.denied');
    expect(event.chokepoint).toMatchObject({ agent: 'auditor', enforced: false, entry: 'connect' });
    // The full decision is reported: SSRF vetting (loopback, no CIDR rule on this port) comes before
    // the default deny in the decision order.
    expect(event.rule?.id).toBe('ssrf.loopback');
    tunnel.socket.end();
    await whenClosed(tunnel.socket);
  });

  it('blocks the same destination for an enforce agent and never reaches the upstream', async () => {
    const requestsBefore = app.requests.length;
    const denied = nextEvent(proxy.log, (event) => event.event.action === 'flow.denied' && event.chokepoint.agent === 'enforcer');
    const result = await curl(['-x', proxy.httpUrl, '-U', `enforcer:${ENFORCER_TOKEN}`, `http://secret.test:${app.port}/blocked`]);
    expect(result.status).toBe(403);
    expect(JSON.parse(result.body)).toMatchObject({ error: 'denied', agent: 'enforcer', rule: 'enforcer.deny.0' });
    expect(app.requests.length).toBe(requestsBefore);

    const event = await denied;
    expect(event.chokepoint).toMatchObject({ agent_mode: 'enforce', action: 'deny', enforced: true });
    expect(event.event.kind).toBe('alert');
  });

  it('still allows what the enforce agent is allowed', async () => {
    const result = await curl(['-x', proxy.httpUrl, '-U', `enforcer:${ENFORCER_TOKEN}`, `http://allowed.test:${app.port}/ok`]);
    expect(result.status).toBe(200);
    const allowed = await proxy.log.waitFor((event) => event.event.action === 'flow.allowed' && event.chokepoint.agent === 'enforcer');
    expect(allowed.rule?.id).toBe('enforcer.allow.0');
  });
});
