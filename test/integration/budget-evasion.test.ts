import { writeFile } from 'node:fs/promises';
import type net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { curl } from '../helpers/curl.js';
import { nextEvent } from '../helpers/event-waits.js';
import { startTestProxy, type TestProxy } from '../helpers/proxy.js';
import { connectTo, connectTunnel, socks5Connect, whenClosed } from '../helpers/raw-clients.js';
import { DENY_UNKNOWN_POLICY, tempRules, type TempRules } from '../helpers/rules.js';
import { httpUpstream, tcpUpstream, type Upstream } from '../helpers/upstreams.js';

/**
 * A bytes_out budget must not be evaded by the way bytes go out:
 * - the first bytes of a tunnel: it reads the agent's first flight to classify it before dialling, and
 *   those held bytes must be metered before they are sent, or every new flow could push up to a whole
 *   peek (64 KiB) past the limit — for CONNECT and SOCKS alike;
 * - plain HTTP: the request head (a URL, headers) carries data too, and a body must be metered as it
 *   streams, not when the exchange ends (by then a 1 GiB upload has gone).
 */

let rules: TempRules;
let proxy: TestProxy;
let counter: Upstream & { sockets: Set<net.Socket> };
let web: Upstream;
/** Bytes the destination received, per connection (keyed by the proxy's source port). */
const received = new Map<number, number>();
const arrivals = new Map<number, () => void>();

const agent = (name: string, source: string, limit = '1KiB', action = 'deny'): string => `agent: ${name}
identify: { sources: ["${source}/32"] }
allow:
  - { host: counter.test, ports: [${counter.port}] }
  - { cidr: 127.0.0.1/32, ports: [${counter.port}] }
  - { host: web.test, ports: [${web.port}] }
  - { cidr: 127.0.0.1/32, ports: [${web.port}] }
budgets:
  bytes_out: { limit: ${limit}, window: 1h, action: ${action} }
`;

beforeAll(async () => {
  counter = await tcpUpstream((socket) => {
    const port = socket.remotePort ?? 0;
    received.set(port, 0);
    socket.on('data', (chunk: Buffer) => received.set(port, (received.get(port) ?? 0) + chunk.length));
    arrivals.get(port)?.();
  });
  web = await httpUpstream();
  rules = await tempRules(DENY_UNKNOWN_POLICY, {
    tunneller: agent('tunneller', '127.0.0.8'),
    socker: agent('socker', '127.0.0.1'),
    getter: agent('getter', '127.0.0.9', '4KiB'),
    uploader: agent('uploader', '127.0.0.10', '64KiB'),
    latecomer: agent('latecomer', '127.0.0.11').replace(/budgets:[^]*$/, ''),
    isolated: agent('isolated', '127.0.0.12', '1KiB', 'quarantine'),
  });
  proxy = await startTestProxy(rules.dir, (config) => {
    config.hosts.set('counter.test', ['127.0.0.1']);
    config.hosts.set('web.test', ['127.0.0.1']);
  });
});

afterAll(async () => {
  await proxy.stop();
  await counter.close();
  await web.close();
  await rules.remove();
});

/**
 * Once the proxy closed the flow: every connection the destination accepted before a fresh probe has
 * been accepted (the accept queue is in order) and has closed, so all it will ever receive is counted.
 */
async function bytesDelivered(): Promise<number> {
  const probe = await connectTo(counter.port);
  await new Promise<void>((resolve) => {
    if (received.has(probe.localPort ?? -1)) resolve();
    else arrivals.set(probe.localPort ?? -1, resolve);
  });
  const others = [...counter.sockets].filter((socket) => socket.remotePort !== probe.localPort);
  await Promise.all(others.map((socket) => (socket.closed ? Promise.resolve() : new Promise((resolve) => socket.once('close', resolve)))));
  probe.destroy();
  return [...received].filter(([port]) => port !== probe.localPort).reduce((sum, [, bytes]) => sum + bytes, 0);
}

describe('bytes_out and the first flight', () => {
  it('CONNECT: a first flight larger than the budget is refused before a byte of it is sent', async () => {
    const tunnel = await connectTunnel(Number(new URL(proxy.httpUrl).port), `counter.test:${counter.port}`, { localAddress: '127.0.0.8' });
    expect(tunnel.status).toBe(200);
    const closed = nextEvent(proxy.log, (e) => e.event.action === 'flow.closed' && e.chokepoint.agent === 'tunneller');
    tunnel.socket.write(Buffer.alloc(8192, 0x78));
    expect((await closed).rule?.id).toBe('budget.bytes_out');
    await whenClosed(tunnel.socket);
    expect(await bytesDelivered()).toBe(0);
  });

  it('SOCKS5: the same', async () => {
    received.clear();
    const socks = await socks5Connect(proxy.socksPort, 'counter.test', counter.port);
    expect(socks.reply).toBe(0);
    const closed = nextEvent(proxy.log, (e) => e.event.action === 'flow.closed' && e.chokepoint.agent === 'socker');
    socks.socket.write(Buffer.alloc(8192, 0x78));
    expect((await closed).rule?.id).toBe('budget.bytes_out');
    await whenClosed(socks.socket);
    expect(await bytesDelivered()).toBe(0);
  });
});

describe('bytes_out and plain HTTP', () => {
  it('request heads count: many small GETs carrying data in their URLs are refused once the budget is spent', async () => {
    const statuses: number[] = [];
    let refusal = '';
    for (let index = 0; index < 6; index += 1) {
      const get = await curl(['-x', proxy.httpUrl, '--interface', '127.0.0.9', `http://web.test:${web.port}/?d=${'x'.repeat(1000)}`]);
      statuses.push(get.status);
      if (get.status === 403 && refusal === '') refusal = get.body;
    }
    // ~1.1 KB of head each against 4 KiB: the fourth crosses the limit and is not forwarded.
    expect(statuses).toEqual([200, 200, 200, 403, 403, 403]);
    expect(JSON.parse(refusal)).toMatchObject({ rule: 'budget.bytes_out' });
    expect(web.requests.filter((request) => request.url.startsWith('/?d='))).toHaveLength(3);
  });

  it('a request body is metered as it streams: an upload far over the budget stops at the limit', async () => {
    received.clear();
    const closed = nextEvent(proxy.log, (e) => e.event.action === 'flow.closed' && e.chokepoint.agent === 'uploader');
    const body = path.join(rules.dir, 'upload.bin');
    await writeFile(body, Buffer.alloc(1024 * 1024, 0x61));
    const upload = curl(['-x', proxy.httpUrl, '--interface', '127.0.0.10', '-H', 'Expect:', '--data-binary', `@${body}`, `http://counter.test:${counter.port}/upload`], 30_000);
    const close = await closed;
    await upload;
    expect(close.rule?.id).toBe('budget.bytes_out');
    // Ending the upstream request must not turn the close's reason into an upstream failure.
    expect(close.event.reason).toMatch(/^budget\.bytes_out: /);
    expect(await bytesDelivered()).toBeLessThanOrEqual(64 * 1024);
  });
});

describe('bytes_out with action quarantine, plain HTTP', () => {
  it('a request over the budget is not forwarded and quarantines the agent', async () => {
    const before = web.requests.length;
    const post = await curl(['-x', proxy.httpUrl, '--interface', '127.0.0.12', '--data-binary', 'z'.repeat(2000), `http://web.test:${web.port}/upload`]);
    expect(post.status).not.toBe(200);
    await proxy.log.waitFor((e) => e.event.action === 'agent.quarantined' && e.chokepoint.agent === 'isolated');
    const next = await curl(['-x', proxy.httpUrl, '--interface', '127.0.0.12', `http://web.test:${web.port}/`]);
    expect(JSON.parse(next.body)).toMatchObject({ rule: 'quarantine' });
    expect(web.requests.length).toBe(before);
    await proxy.proxy.pipeline.quarantines.release('isolated');
  });
});

describe('bytes_out and reloads', () => {
  it('a budget a reload adds applies to the live flows of the agent too', async () => {
    received.clear();
    const tunnel = await connectTunnel(Number(new URL(proxy.httpUrl).port), `counter.test:${counter.port}`, { localAddress: '127.0.0.11' });
    expect(tunnel.status).toBe(200);
    tunnel.socket.write(Buffer.alloc(100, 0x78));
    await proxy.log.waitFor((e) => e.event.action === 'flow.allowed' && e.chokepoint.agent === 'latecomer');
    await rules.writeAgent('latecomer', agent('latecomer', '127.0.0.11'));
    await proxy.proxy.reload('test');
    const closed = nextEvent(proxy.log, (e) => e.event.action === 'flow.closed' && e.chokepoint.agent === 'latecomer');
    tunnel.socket.write(Buffer.alloc(8192, 0x79));
    expect((await closed).rule?.id).toBe('budget.bytes_out');
    expect(await bytesDelivered()).toBeLessThanOrEqual(100 + 1024);
  });
});
