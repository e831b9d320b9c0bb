import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChokepointEvent } from '../../src/events/types.js';
import { curl } from '../helpers/curl.js';
import { connectTo, connectTunnel, echoRoundTrip, readHead, readToEnd } from '../helpers/raw-clients.js';
import { startTestProxy, type TestProxy } from '../helpers/proxy.js';
import { DENY_UNKNOWN_POLICY, tempRules, type TempRules } from '../helpers/rules.js';
import { echoUpstream, httpsUpstream, type Upstream } from '../helpers/upstreams.js';

/**
 * CONNECT tunnels end to end: real curl over TLS through the tunnel, denials that never reach the
 * destination, an IPv6 destination, byte accounting, and bytes a client sends before the 200.
 */

/** The value of one header in a response head, or undefined. */
function headerOf(head: string, name: string): string | undefined {
  const line = head.split('\r\n').find((candidate) => candidate.toLowerCase().startsWith(`${name.toLowerCase()}:`));
  return line?.slice(line.indexOf(':') + 1).trim();
}

describe('CONNECT tunnels', () => {
  let rules: TempRules;
  let proxy: TestProxy;
  let tls: Upstream & { certPath: string };
  let echo: Upstream;
  let echo6: Upstream;
  let proxyPort: number;

  beforeAll(async () => {
    tls = await httpsUpstream(['tls.test', 'blocked.test']);
    echo = await echoUpstream();
    echo6 = await echoUpstream('::1');
    rules = await tempRules(DENY_UNKNOWN_POLICY, {
      coder: `agent: coder
identify: { sources: ["127.0.0.1/32"] }
allow:
  - { host: tls.test, ports: [${tls.port}] }
  - { host: echo.test, ports: [${echo.port}] }
  - { cidr: 127.0.0.1/32, ports: [${tls.port}, ${echo.port}] }
  - { cidr: "::1/128", ports: [${echo6.port}] }
deny:
  - { host: blocked.test, reason: "blocked.test is off limits; use tls.test instead" }
`,
    });
    proxy = await startTestProxy(rules.dir, (config) => {
      config.hosts.set('tls.test', ['127.0.0.1']);
      config.hosts.set('blocked.test', ['127.0.0.1']);
      config.hosts.set('echo.test', ['127.0.0.1']);
    });
    proxyPort = proxy.proxy.http?.port ?? 0;
  });
  afterAll(async () => {
    await proxy.stop();
    await Promise.all([tls.close(), echo.close(), echo6.close()]);
    await rules.remove();
  });

  const flowEvent = (action: string, flowId: string | undefined) => (e: ChokepointEvent): boolean =>
    e.event.action === action && e.chokepoint.flow_id === flowId;

  it('carries real curl HTTPS to a TLS server, verified against its certificate', async () => {
    const result = await curl(['-x', proxy.httpUrl, '--cacert', tls.certPath, `https://tls.test:${tls.port}/hello`]);
    expect(result.code).toBe(0);
    expect(result.connectStatus).toBe(200);
    expect(result.status).toBe(200);
    expect(result.body).toBe('hello over tls\n');
    expect(tls.requests.at(-1)?.url).toBe('/hello');
    const allowed = await proxy.log.waitFor((e) => e.event.action === 'flow.allowed' && e.destination?.domain === 'tls.test');
    expect(allowed.chokepoint).toMatchObject({ agent: 'coder', entry: 'connect' });
    const closed = await proxy.log.waitFor(flowEvent('flow.closed', allowed.chokepoint.flow_id));
    expect(closed.source?.bytes).toBeGreaterThan(0);
    expect(closed.destination?.bytes).toBeGreaterThan(0);
  });

  it('refuses a denied CONNECT with 403 and Chokepoint-Reason (as curl sees it), never dialling', async () => {
    const before = tls.connections;
    const result = await curl(['-v', '-x', proxy.httpUrl, '--cacert', tls.certPath, `https://blocked.test:${tls.port}/`]);
    expect(result.code).not.toBe(0);
    expect(result.connectStatus).toBe(403);
    expect(result.stderr).toMatch(/< HTTP\/1\.1 403 Forbidden/);
    expect(result.stderr).toMatch(/< chokepoint-reason: blocked\.test is off limits; use tls\.test instead/i);
    expect(tls.connections).toBe(before);
  });

  it('answers a raw denied CONNECT with the JSON body {error, reason, rule, agent, flow} and closes', async () => {
    const before = tls.connections;
    const answer = await connectTunnel(proxyPort, `blocked.test:${tls.port}`);
    expect(answer.status).toBe(403);
    expect(answer.socket.closed).toBe(true);
    expect(headerOf(answer.head, 'chokepoint-reason')).toBe('blocked.test is off limits; use tls.test instead');
    expect(headerOf(answer.head, 'content-type')).toBe('application/json');
    const body = JSON.parse(answer.body) as Record<string, unknown>;
    expect(Object.keys(body).sort()).toEqual(['agent', 'error', 'flow', 'reason', 'rule']);
    expect(body).toMatchObject({ error: 'denied', reason: 'blocked.test is off limits; use tls.test instead', rule: 'coder.deny.0', agent: 'coder' });
    const denied = await proxy.log.waitFor(flowEvent('flow.denied', String(body.flow)));
    expect(denied.rule?.id).toBe('coder.deny.0');
    expect(denied.chokepoint.entry).toBe('connect');
    expect(tls.connections).toBe(before);
  });

  it('tunnels to an IPv6 destination [::1] allowed by a ::1/128 cidr rule, counting bytes each way', async () => {
    const answer = await connectTunnel(proxyPort, `[::1]:${echo6.port}`);
    expect(answer.status).toBe(200);
    const clientPort = answer.socket.localPort;
    const payload = 'ping over v6 '.repeat(100);
    expect((await echoRoundTrip(answer.socket, payload)).toString('latin1')).toBe(payload);
    answer.socket.end();
    expect((await readToEnd(answer.socket)).length).toBe(0);

    const allowed = await proxy.log.waitFor((e) => e.event.action === 'flow.allowed' && e.source?.port === clientPort);
    expect(allowed.destination).toMatchObject({ ip: '::1', port: echo6.port });
    expect(allowed.rule?.id).toBe('coder.allow.3');
    const closed = await proxy.log.waitFor(flowEvent('flow.closed', allowed.chokepoint.flow_id));
    expect(closed.source?.bytes).toBe(payload.length);
    expect(closed.destination?.bytes).toBe(payload.length);
    expect(closed.destination?.ip).toBe('::1');
  });

  it('forwards bytes sent in the same write as the CONNECT request, and right behind it, in order', async () => {
    const socket = await connectTo(proxyPort);
    const clientPort = socket.localPort;
    socket.write(`CONNECT echo.test:${echo.port} HTTP/1.1\r\nHost: echo.test:${echo.port}\r\n\r\nearly-1;`);
    // A second write at once, while the proxy is still deciding and dialling.
    socket.write('early-2;');
    const { head, rest } = await readHead(socket);
    expect(head).toMatch(/^HTTP\/1\.1 200 /);
    // The echo server half-closes when we do, so everything it echoed arrives before the close.
    socket.end();
    const echoed = Buffer.concat([rest, await readToEnd(socket)]).toString('latin1');
    expect(echoed).toBe('early-1;early-2;');

    const allowed = await proxy.log.waitFor((e) => e.event.action === 'flow.allowed' && e.source?.port === clientPort);
    const closed = await proxy.log.waitFor(flowEvent('flow.closed', allowed.chokepoint.flow_id));
    expect(closed.source?.bytes).toBe(echoed.length);
    expect(closed.destination?.bytes).toBe(echoed.length);
  });

  it('keeps early bytes and the client\'s half-close when it sends request, data and FIN at once', async () => {
    const socket = await connectTo(proxyPort);
    socket.end(`CONNECT echo.test:${echo.port} HTTP/1.1\r\nHost: echo.test:${echo.port}\r\n\r\nfire-and-forget`);
    const answer = (await readToEnd(socket)).toString('latin1');
    expect(answer).toMatch(/^HTTP\/1\.1 200 [^\r]*\r\n\r\nfire-and-forget$/);
  });
});
