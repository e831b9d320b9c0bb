import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { curl } from '../helpers/curl.js';
import { nextEvent } from '../helpers/event-waits.js';
import { startTestProxy, type TestProxy } from '../helpers/proxy.js';
import { connectTunnel, echoRoundTrip, readToEnd, whenClosed } from '../helpers/raw-clients.js';
import { DENY_UNKNOWN_POLICY, tempRules, type TempRules } from '../helpers/rules.js';
import { echoUpstream, httpUpstream, type Upstream } from '../helpers/upstreams.js';

/**
 * Per-agent budgets with real traffic through the proxy: raw CONNECT tunnels to an echo server (each
 * agent is told apart by its loopback source address) and curl for plain HTTP.
 */

let rules: TempRules;
let proxy: TestProxy;
let echo: Upstream;
let web: Upstream;
let proxyPort: number;

function agent(name: string, source: string, budgets: string, mode = 'enforce'): string {
  return `agent: ${name}
identify: { sources: ["${source}/32"] }
mode: ${mode}
allow:
  - { host: echo.test, ports: [${echo.port}] }
  - { host: echo2.test, ports: [${echo.port}] }
  - { host: echo3.test, ports: [${echo.port}] }
  - { host: web.test, ports: [${web.port}] }
  - { cidr: 127.0.0.1/32, ports: [${echo.port}, ${web.port}] }
budgets:
${budgets}
`;
}

beforeAll(async () => {
  echo = await echoUpstream();
  web = await httpUpstream();
  rules = await tempRules(DENY_UNKNOWN_POLICY, {
    alerter: agent('alerter', '127.0.0.1', '  bytes_out: { limit: 1KiB, window: 1h, action: alert }'),
    denier: agent('denier', '127.0.0.2', '  bytes_out: { limit: 4096, window: 1h, action: deny }'),
    isolator: agent('isolator', '127.0.0.3', '  bytes_out: { limit: 1KiB, window: 1h, action: quarantine }'),
    explorer: agent('explorer', '127.0.0.4', '  new_destinations: { limit: 2, window: 10m, action: deny }'),
    lingerer: agent('lingerer', '127.0.0.5', '  connection_duration: { max: 300ms, action: deny }'),
    watcher: agent('watcher', '127.0.0.6', '  new_destinations: { limit: 1, window: 10m, action: deny }\n  connection_duration: { max: 200ms, action: alert }', 'audit'),
    poster: agent('poster', '127.0.0.7', '  bytes_out: { limit: 1KiB, window: 1h, action: deny }'),
  });
  proxy = await startTestProxy(rules.dir, (config) => {
    for (const name of ['echo.test', 'echo2.test', 'echo3.test', 'web.test']) config.hosts.set(name, ['127.0.0.1']);
  });
  proxyPort = Number(new URL(proxy.httpUrl).port);
});

afterAll(async () => {
  await proxy.stop();
  await echo.close();
  await web.close();
  await rules.remove();
});

const tunnelFrom = (source: string, authority = `echo.test:${echo.port}`) => connectTunnel(proxyPort, authority, { localAddress: source });
const budgetEvents = (agentName: string) => proxy.log.named('detection.budget_exceeded').filter((e) => e.chokepoint.agent === agentName);

describe('bytes_out', () => {
  it('alert: reported once per window, traffic keeps flowing', async () => {
    const tunnel = await tunnelFrom('127.0.0.1');
    expect(tunnel.status).toBe(200);
    expect((await echoRoundTrip(tunnel.socket, Buffer.alloc(800, 1))).length).toBe(800);
    expect(budgetEvents('alerter')).toHaveLength(0);
    expect((await echoRoundTrip(tunnel.socket, Buffer.alloc(800, 2))).length).toBe(800);
    const event = await proxy.log.waitFor((e) => e.event.action === 'detection.budget_exceeded' && e.chokepoint.agent === 'alerter');
    expect(event.chokepoint.detection).toMatchObject({ kind: 'budget_exceeded', action: 'alert' });
    expect(event.chokepoint.details).toMatchObject({ budget: 'bytes_out', limit: 1024, window_s: 3600, used: 1600 });
    expect(event.chokepoint.enforced).toBe(false);
    expect((await echoRoundTrip(tunnel.socket, Buffer.alloc(5000, 3))).length).toBe(5000);
    expect(budgetEvents('alerter')).toHaveLength(1);
    tunnel.socket.destroy();
  });

  it('deny: the chunk that would cross the limit is not forwarded, the flow stops, new flows are refused with when it resets', async () => {
    const tunnel = await tunnelFrom('127.0.0.2');
    expect((await echoRoundTrip(tunnel.socket, Buffer.alloc(3000, 1))).length).toBe(3000);
    const closed = nextEvent(proxy.log, (e) => e.event.action === 'flow.closed' && e.chokepoint.agent === 'denier');
    const rest = readToEnd(tunnel.socket);
    tunnel.socket.write(Buffer.alloc(2000, 2));
    expect((await rest).length).toBe(0);
    const close = await closed;
    expect(close.rule?.id).toBe('budget.bytes_out');
    expect(close.source?.bytes).toBe(3000);
    const again = await tunnelFrom('127.0.0.2');
    expect(again.status).toBe(403);
    const body = JSON.parse(again.body) as { rule: string; reason: string };
    expect(body.rule).toBe('budget.bytes_out');
    expect(body.reason).toMatch(/budget bytes_out of agent denier is spent: 4096 bytes may be sent per 1h window; sending is refused until \d{4}-\d\d-\d\dT/);
  });

  it('survives a rules reload: the spent window stays spent', async () => {
    await proxy.proxy.reload('test');
    const after = await tunnelFrom('127.0.0.2');
    expect(after.status).toBe(403);
    expect(JSON.parse(after.body)).toMatchObject({ rule: 'budget.bytes_out' });
  });

  it('quarantine: crossing the limit quarantines the agent and closes all its flows', async () => {
    const idle = await tunnelFrom('127.0.0.3');
    const busy = await tunnelFrom('127.0.0.3');
    expect([idle.status, busy.status]).toEqual([200, 200]);
    expect((await echoRoundTrip(busy.socket, Buffer.alloc(500))).length).toBe(500);
    busy.socket.write(Buffer.alloc(2000));
    const quarantined = await proxy.log.waitFor((e) => e.event.action === 'agent.quarantined' && e.chokepoint.agent === 'isolator');
    expect(quarantined.chokepoint.details).toMatchObject({ trigger: 'budget.bytes_out' });
    await Promise.all([whenClosed(idle.socket), whenClosed(busy.socket)]);
    const refused = await tunnelFrom('127.0.0.3');
    expect(JSON.parse(refused.body)).toMatchObject({ rule: 'quarantine' });
    await proxy.proxy.pipeline.quarantines.release('isolator');
  });

  it('plain HTTP: heads and bodies count before they are forwarded', async () => {
    const post = await curl(['-x', proxy.httpUrl, '--interface', '127.0.0.7', '--data-binary', 'x'.repeat(500), `http://web.test:${web.port}/upload`]);
    expect(post.status).toBe(200);
    const over = await curl(['-x', proxy.httpUrl, '--interface', '127.0.0.7', '--data-binary', 'y'.repeat(600), `http://web.test:${web.port}/upload`]);
    expect(over.status).toBe(403);
    expect(JSON.parse(over.body)).toMatchObject({ rule: 'budget.bytes_out' });
    expect(web.requests.filter((request) => request.body.startsWith('y'))).toHaveLength(0);
    const next = await curl(['-x', proxy.httpUrl, '--interface', '127.0.0.7', `http://web.test:${web.port}/`]);
    expect(next.status).toBe(403);
    expect(JSON.parse(next.body)).toMatchObject({ rule: 'budget.bytes_out' });
  });
});

describe('new_destinations', () => {
  it('deny: the destination beyond the limit is refused; destinations already used stay reachable', async () => {
    const first = await tunnelFrom('127.0.0.4', `echo.test:${echo.port}`);
    const second = await tunnelFrom('127.0.0.4', `127.0.0.1:${echo.port}`);
    expect([first.status, second.status]).toEqual([200, 200]);
    const third = await tunnelFrom('127.0.0.4', `echo2.test:${echo.port}`);
    expect(third.status).toBe(403);
    const body = JSON.parse(third.body) as { rule: string; reason: string };
    expect(body.rule).toBe('budget.new_destinations');
    expect(body.reason).toContain(`2 new destinations in the current 10m window; echo2.test:${echo.port} would be one more`);
    expect(body.reason).toMatch(/new ones are refused until \d{4}-/);
    const reused = await tunnelFrom('127.0.0.4', `echo.test:${echo.port}`);
    expect(reused.status).toBe(200);
    expect(await tunnelFrom('127.0.0.4', `echo3.test:${echo.port}`)).toMatchObject({ status: 403 });
    expect(budgetEvents('explorer')).toHaveLength(1);
    for (const tunnel of [first, second, reused]) tunnel.socket.destroy();
  });

  it('audit mode: reported, never refused', async () => {
    const first = await tunnelFrom('127.0.0.6', `echo.test:${echo.port}`);
    const second = await tunnelFrom('127.0.0.6', `echo2.test:${echo.port}`);
    expect([first.status, second.status]).toEqual([200, 200]);
    const event = await proxy.log.waitFor((e) => e.event.action === 'detection.budget_exceeded' && e.chokepoint.agent === 'watcher' && e.chokepoint.details?.budget === 'new_destinations');
    expect(event.chokepoint.enforced).toBe(false);
    expect(event.chokepoint.detection?.action).toBe('alert');
    first.socket.destroy();
    second.socket.destroy();
  });
});

describe('connection_duration', () => {
  it('deny: a connection that lives past max is ended, and its close says why', async () => {
    const tunnel = await tunnelFrom('127.0.0.5');
    expect(tunnel.status).toBe(200);
    const closed = proxy.log.waitFor((e) => e.event.action === 'flow.closed' && e.chokepoint.agent === 'lingerer');
    await whenClosed(tunnel.socket);
    const close = await closed;
    expect(close.rule?.id).toBe('budget.connection_duration');
    expect(close.event.reason).toContain('reached its maximum of 300ms');
    const denied = proxy.log.named('flow.denied').find((e) => e.chokepoint.agent === 'lingerer');
    expect(denied?.chokepoint.enforced).toBe(true);
  });

  it('alert (and audit): reported, the connection keeps working', async () => {
    const tunnel = await tunnelFrom('127.0.0.6', `echo.test:${echo.port}`);
    const flowId = proxy.log.events.findLast((e) => e.chokepoint.agent === 'watcher' && e.source?.port === tunnel.socket.localPort)?.chokepoint.flow_id;
    const event = await proxy.log.waitFor((e) => e.event.action === 'detection.budget_exceeded' && e.chokepoint.flow_id === flowId && e.chokepoint.details?.budget === 'connection_duration');
    expect(event.chokepoint.detection?.action).toBe('alert');
    expect((await echoRoundTrip(tunnel.socket, 'after the alert')).toString()).toBe('after the alert');
    tunnel.socket.destroy();
  });
});
