import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminCall, adminToken, metricValue } from '../helpers/admin.js';
import { curl } from '../helpers/curl.js';
import { nextEvent } from '../helpers/event-waits.js';
import { startTestProxy, type TestProxy } from '../helpers/proxy.js';
import { connectTunnel, echoRoundTrip, readToEnd } from '../helpers/raw-clients.js';
import { DENY_UNKNOWN_POLICY, tempRules, type TempRules } from '../helpers/rules.js';
import { echoUpstream, httpUpstream, type Upstream } from '../helpers/upstreams.js';

/**
 * `/metrics` scraped after real traffic (curl plain HTTP, CONNECT tunnels, a denial, an SSH banner where
 * SSH is not allowed, an unidentified client): the exposition text is parsed and every counter holds
 * exactly what was done. Labels stay bounded: no destination, no flow id.
 */
describe('Prometheus metrics', () => {
  let rules: TempRules;
  let proxy: TestProxy;
  let echo: Upstream;
  let web: Upstream;
  const token = adminToken();

  beforeAll(async () => {
    echo = await echoUpstream();
    web = await httpUpstream();
    rules = await tempRules(DENY_UNKNOWN_POLICY, {
      coder: `agent: coder
identify: { sources: ["127.0.0.1/32"] }
allow:
  - { host: echo.test, ports: [${echo.port}] }
  - { host: web.test, ports: [${web.port}] }
  - { cidr: 127.0.0.1/32, ports: [${echo.port}, ${web.port}] }
deny:
  - { host: blocked.test }
`,
    });
    proxy = await startTestProxy(rules.dir, (config) => {
      for (const name of ['echo.test', 'web.test', 'blocked.test']) config.hosts.set(name, ['127.0.0.1']);
      config.listen.admin = { host: '127.0.0.1', port: 0 };
      config.admin = { token };
    });
  });
  afterAll(async () => {
    await proxy.stop();
    await Promise.all([echo.close(), web.close()]);
    await rules.remove();
  });

  it('counts flows, bytes, denials, detections, active tunnels and classification after real traffic', async () => {
    const proxyPort = proxy.proxy.http?.port ?? 0;
    for (let i = 0; i < 2; i += 1) {
      expect((await curl(['--proxy', `http://127.0.0.1:${proxyPort}`, `http://web.test:${web.port}/`])).status).toBe(200);
    }
    expect((await curl(['--proxy', `http://127.0.0.1:${proxyPort}`, 'http://blocked.test/'])).status).toBe(403);

    // One tunnel carries 5 bytes each way and closes; another stays open during the scrape.
    const finished = await connectTunnel(proxyPort, `echo.test:${echo.port}`);
    const finishedClosed = nextEvent(proxy.log, (event) => event.event.action === 'flow.closed' && event.chokepoint.entry === 'connect');
    expect((await echoRoundTrip(finished.socket, 'hello')).toString()).toBe('hello');
    finished.socket.end();
    const closedEvent = await finishedClosed;
    expect(closedEvent.source?.bytes).toBe(5);
    const open = await connectTunnel(proxyPort, `echo.test:${echo.port}`);
    expect((await echoRoundTrip(open.socket, 'still here')).toString()).toBe('still here');

    // SSH where the rule does not allow it: a detection, and a denial on the flow's bytes.
    const ssh = await connectTunnel(proxyPort, `echo.test:${echo.port}`);
    const sshClosed = nextEvent(proxy.log, (event) => event.event.action === 'flow.closed' && event.network?.protocol === 'ssh');
    ssh.socket.write('SSH-2.0-OpenSSH_9.6\r\n');
    await readToEnd(ssh.socket);
    await sshClosed;

    // An unidentified client: its agent label collapses to "unknown".
    const stranger = await connectTunnel(proxyPort, `echo.test:${echo.port}`, { localAddress: '127.0.0.2' });
    expect(stranger.status).toBe(403);

    const scrape = await adminCall(proxy.proxy.admin?.port ?? 0, 'GET', '/metrics', { token });
    expect(scrape.status).toBe(200);
    expect(scrape.headers.get('content-type')).toContain('text/plain');
    const text = scrape.text;
    const value = (name: string, labels: Record<string, string> = {}): number | undefined => metricValue(text, name, labels);

    expect(value('chokepoint_flows_opened_total', { agent: 'coder', entry: 'http', action: 'allow' })).toBe(2);
    expect(value('chokepoint_flows_opened_total', { agent: 'coder', entry: 'connect', action: 'allow' })).toBe(3);
    expect(value('chokepoint_denials_total', { agent: 'coder', rule_kind: 'rule', enforced: 'true' })).toBe(1);
    expect(value('chokepoint_denials_total', { agent: 'coder', rule_kind: 'detection', enforced: 'true' })).toBe(1);
    expect(value('chokepoint_denials_total', { agent: 'unknown', rule_kind: 'unknown-agent' })).toBe(1);
    expect(value('chokepoint_detections_total', { agent: 'coder', kind: 'ssh_not_allowed', confidence: 'high', action: 'deny' })).toBe(1);
    expect(value('chokepoint_active_flows', { agent: 'coder', entry: 'connect' })).toBe(1);
    expect(value('chokepoint_flows_closed_total', { agent: 'coder', entry: 'connect', protocol: 'ssh', outcome: 'failure' })).toBe(1);
    // A flow denied before admission never opened, so it has no close.
    expect(value('chokepoint_flows_closed_total', { agent: 'coder', entry: 'http' })).toBe(2);
    expect(value('chokepoint_flow_bytes_total', { agent: 'coder', direction: 'up' })).toBeGreaterThanOrEqual(5);
    expect(value('chokepoint_flow_bytes_total', { agent: 'coder', direction: 'down' })).toBeGreaterThanOrEqual(5);
    // Observed when a tunnel closes: the two closed tunnels had their protocol named (one as ssh).
    expect(value('chokepoint_classification_seconds_count')).toBe(2);
    expect(value('chokepoint_classification_seconds_count', { protocol: 'ssh' })).toBe(1);
    expect(value('chokepoint_events_total', { event: 'flow.allowed', agent: 'coder' })).toBe(5);
    expect(value('chokepoint_events_total', { event: 'proxy.started', agent: 'none' })).toBe(1);

    // Bounded labels: no destination name or address, no flow id, no unknown agent name.
    expect(text).not.toContain('echo.test');
    expect(text).not.toContain('web.test');
    expect(text).not.toContain(String(closedEvent.chokepoint.flow_id));
    expect(text).not.toContain('not-an-agent');
    open.socket.destroy();
  });
});
