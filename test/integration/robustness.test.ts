/**
 * What a hostile, broken or merely busy client does to the proxy: malformed and oversized requests,
 * stalled handshakes, idle tunnels, too many flows, half-closed tunnels, refused upstreams, and volume
 * (thousands of tunnels and requests) with no leaked flows or sockets afterwards.
 */
import http from 'node:http';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChokepointConfig } from '../../src/config/chokepoint-config.js';
import { admittedFlowOf, eventually, withDeadline } from '../helpers/event-waits.js';
import { startTestProxy, type TestProxy } from '../helpers/proxy.js';
import {
  connectTo,
  connectTunnel,
  echoRoundTrip,
  readToEnd,
  sendRaw,
  socks5Connect,
  whenClosed,
  type ConnectAnswer,
} from '../helpers/raw-clients.js';
import { DENY_UNKNOWN_POLICY, tempRules, type TempRules } from '../helpers/rules.js';
import { echoUpstream, httpUpstream, type Upstream } from '../helpers/upstreams.js';

type Echo = Awaited<ReturnType<typeof echoUpstream>>;

/** Two agents told apart by loopback source address, with the same destinations allowed. */
function agentRules(name: string, source: string, ports: number[]): string {
  return `agent: ${name}
identify: { sources: ["${source}/32"] }
allow:
  - { host: echo.test, ports: [${ports.join(', ')}] }
  - { host: app.test, ports: [${ports.join(', ')}] }
  - { cidr: 127.0.0.1/32, ports: [${ports.join(', ')}] }
`;
}

/** A port nothing listens on: bound once to learn a free number, then released. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

function statusOf(answer: Buffer): number {
  return Number(/^HTTP\/1\.1 (\d{3})/.exec(answer.toString('latin1'))?.[1] ?? 0);
}

function jsonBodyOf(answer: Buffer): Record<string, unknown> {
  const text = answer.toString('utf8');
  return JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as Record<string, unknown>;
}

async function closeTunnel(answer: ConnectAnswer): Promise<void> {
  answer.socket.end();
  await whenClosed(answer.socket);
}

describe('robustness', () => {
  let rules: TempRules;
  let echo: Echo;
  let app: Upstream;
  let refusedPort: number;
  /** Default timeouts and limits, except a small header limit. */
  let main: TestProxy;
  /** Short header and idle timeouts. */
  let hasty: TestProxy;
  /** Two flows per agent, three in total. */
  let limited: TestProxy;

  const httpPort = (proxy: TestProxy): number => proxy.proxy.http?.port ?? 0;

  beforeAll(async () => {
    [echo, app, refusedPort] = await Promise.all([echoUpstream(), httpUpstream(), closedPort()]);
    const ports = [echo.port, app.port, refusedPort];
    rules = await tempRules(DENY_UNKNOWN_POLICY, {
      first: agentRules('first', '127.0.0.1', ports),
      second: agentRules('second', '127.0.0.2', ports),
    });
    const names = (config: ChokepointConfig): void => {
      config.hosts.set('echo.test', ['127.0.0.1']);
      config.hosts.set('app.test', ['127.0.0.1']);
    };
    main = await startTestProxy(rules.dir, (config) => {
      names(config);
      config.limits.maxHeaderBytes = 2048;
    });
    hasty = await startTestProxy(rules.dir, (config) => {
      names(config);
      config.timeouts.headerMs = 300;
      config.timeouts.idleMs = 300;
    });
    limited = await startTestProxy(rules.dir, (config) => {
      names(config);
      config.limits.maxFlowsPerAgent = 2;
      config.limits.maxFlowsTotal = 3;
    });
  });
  afterAll(async () => {
    await Promise.all([main, hasty, limited].map((proxy) => proxy.stop()));
    await Promise.all([echo.close(), app.close()]);
    await rules.remove();
  });

  describe('malformed HTTP', () => {
    it.each([
      ['a request line that is not HTTP', 'THIS IS NOT HTTP\r\n\r\n'],
      ['an unknown HTTP version', 'GET http://app.test/ HTTP/9.9\r\n\r\n'],
      ['a header line without a colon', 'GET http://app.test/ HTTP/1.1\r\nHost app.test\r\n\r\n'],
      ['TLS sent to the plain HTTP port', Buffer.from('16030100050100000100', 'hex')],
    ])('answers %s with a 400 JSON body that says what is wrong', async (_name, bytes) => {
      const answer = await sendRaw(httpPort(main), bytes);
      expect(statusOf(answer)).toBe(400);
      expect(answer.toString('latin1')).toMatch(/content-type: application\/json/i);
      const body = jsonBodyOf(answer);
      expect(body.error).toBe('bad_request');
      expect(body.reason).toMatch(/malformed HTTP request/);
    });

    it('answers headers over the limit with 431', async () => {
      const answer = await sendRaw(
        httpPort(main),
        `GET http://app.test:${app.port}/ HTTP/1.1\r\nHost: app.test\r\nX-Padding: ${'a'.repeat(4000)}\r\n\r\n`,
      );
      expect(statusOf(answer)).toBe(431);
      expect(jsonBodyOf(answer)).toMatchObject({ error: 'headers_too_large' });
      expect(jsonBodyOf(answer).reason).toMatch(/2048 bytes/);
    });

    it('disconnects a client that never finishes its headers once the header timeout passes', async () => {
      const socket = await connectTo(httpPort(hasty));
      const answer = readToEnd(socket);
      socket.write(`GET http://app.test:${app.port}/ HTTP/1.1\r\nHost: app.test\r\n`);
      // The bound is far above the 300 ms header timeout, and far below Node's own 30 s sweep, which
      // would close the socket eventually even if the configured timeout were ignored.
      const text = (await withDeadline(answer, 10_000, 'still connected 10 s after a 300 ms header timeout').finally(() => socket.destroy())).toString('utf8');
      if (text !== '') expect(text).toMatch(/not received in time/);
    }, 20_000);
  });

  describe('timeouts and limits on tunnels', () => {
    it('closes an idle tunnel after timeouts.idleMs and says so in flow.closed', async () => {
      const tunnel = await connectTunnel(httpPort(hasty), `echo.test:${echo.port}`);
      expect(tunnel.status).toBe(200);
      expect((await echoRoundTrip(tunnel.socket, 'then silence')).toString()).toBe('then silence');
      const flowId = admittedFlowOf(hasty.log, tunnel.socket.localPort).chokepoint.flow_id;
      const closed = await hasty.log.waitFor((event) => event.event.action === 'flow.closed' && event.chokepoint.flow_id === flowId);
      expect(closed.event.reason).toMatch(/idle/);
      expect(closed.source?.bytes).toBe('then silence'.length);
      await whenClosed(tunnel.socket);
    });

    it('refuses flows over the per-agent limit with 429 and over the total with 503', async () => {
      const port = httpPort(limited);
      const target = `echo.test:${echo.port}`;
      const open: ConnectAnswer[] = [];
      for (let i = 0; i < 2; i += 1) open.push(await connectTunnel(port, target));
      expect(open.map((answer) => answer.status)).toEqual([200, 200]);

      const overAgent = await connectTunnel(port, target);
      expect(overAgent.status).toBe(429);
      expect(JSON.parse(overAgent.body)).toMatchObject({ error: 'limit_reached', rule: 'limit.agent', agent: 'first' });

      const second = await connectTunnel(port, target, { localAddress: '127.0.0.2' });
      expect(second.status).toBe(200);
      open.push(second);
      const overTotal = await connectTunnel(port, target, { localAddress: '127.0.0.2' });
      expect(overTotal.status).toBe(503);
      expect(JSON.parse(overTotal.body)).toMatchObject({ error: 'limit_reached', rule: 'limit.total' });

      await Promise.all(open.map(closeTunnel));
      await eventually(() => limited.proxy.registry.size === 0, 'every tunnel released');
      const again = await connectTunnel(port, target);
      expect(again.status).toBe(200);
      await closeTunnel(again);
    });
  });

  describe('tunnel semantics', () => {
    it('leaves no flow behind when a silent client resets while the server is being listened to', async () => {
      const before = echo.connections;
      const tunnel = await connectTunnel(httpPort(main), `echo.test:${echo.port}`);
      expect(tunnel.status).toBe(200);
      const flowId = admittedFlowOf(main.log, tunnel.socket.localPort).chokepoint.flow_id;
      // The client stays silent: after the peek window the proxy dials and waits for the server's bytes.
      await eventually(() => echo.connections > before, 'the proxy to dial the upstream for a silent client');
      tunnel.socket.resetAndDestroy();
      const closed = await main.log.waitFor((e) => e.event.action === 'flow.closed' && e.chokepoint.flow_id === flowId);
      expect(closed.chokepoint.flow_id).toBe(flowId);
      await eventually(() => main.proxy.registry.get(flowId ?? '') === undefined, 'the registry to release the flow');
    });

    it('never forwards a plain-HTTP request whose body the client abandoned while it was inspected', async () => {
      const before = echo.connections;
      const socket = await connectTo(httpPort(main));
      socket.on('error', () => undefined);
      socket.write(`POST http://echo.test:${echo.port}/exfil HTTP/1.1\r\nHost: echo.test:${echo.port}\r\nContent-Length: 100\r\n\r\nSECRET-PART`);
      const flow = await main.log.waitFor((e) => e.event.action === 'flow.allowed' && e.source?.port === socket.localPort);
      socket.destroy();
      const closed = await main.log.waitFor((e) => e.event.action === 'flow.closed' && e.chokepoint.flow_id === flow.chokepoint.flow_id);
      expect(closed.event.outcome).toBe('failure');
      // A forward, had it happened, starts right after the body wait: one full exchange through the
      // same proxy later, its upstream connection would long have been accepted.
      await new Promise<void>((resolve, reject) =>
        http.get({ host: '127.0.0.1', port: httpPort(main), path: `http://app.test:${app.port}/after`, headers: { host: `app.test:${app.port}` } }, (res) => {
          res.resume();
          res.on('end', resolve);
        }).on('error', reject),
      );
      expect(echo.connections).toBe(before);
    });

    it('keeps the return direction open after the client half-closes', async () => {
      const tunnel = await connectTunnel(httpPort(main), `echo.test:${echo.port}`);
      expect(tunnel.status).toBe(200);
      const flowId = admittedFlowOf(main.log, tunnel.socket.localPort).chokepoint.flow_id;
      const payload = Buffer.alloc(512 * 1024, 'half-close ');
      const echoed = readToEnd(tunnel.socket);
      tunnel.socket.end(payload);
      const received = await echoed;
      expect(received.length).toBe(payload.length);
      expect(received.equals(payload)).toBe(true);
      const closed = await main.log.waitFor((event) => event.event.action === 'flow.closed' && event.chokepoint.flow_id === flowId);
      expect(closed.event.reason).toBe('closed');
      expect(closed.source?.bytes).toBe(payload.length);
      expect(closed.destination?.bytes).toBe(payload.length);
    });

    // Tunnels are acknowledged before anything is dialled (the first bytes decide whether the upstream
    // is dialled at all), so an unreachable upstream is reported inside the tunnel, in the protocol the
    // agent speaks, and in the flow's close event.
    it('reports a refusing upstream inside the tunnel: 502 to HTTP, a close to others, and in flow.closed', async () => {
      const connect = await connectTunnel(httpPort(main), `echo.test:${refusedPort}`);
      expect(connect.status).toBe(200);
      const answer = readToEnd(connect.socket);
      connect.socket.write(`GET / HTTP/1.1\r\nHost: echo.test:${refusedPort}\r\n\r\n`);
      const text = (await answer).toString('utf8');
      expect(text).toMatch(/^HTTP\/1\.1 502 /);
      expect(JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4))).toMatchObject({ error: 'upstream_unreachable' });
      const failed = await main.log.waitFor((e) => e.event.action === 'flow.closed' && e.error?.code === 'ECONNREFUSED');
      expect(failed.event.outcome).toBe('failure');

      const socks = await socks5Connect(main.socksPort, 'echo.test', refusedPort);
      expect(socks.reply).toBe(0x00);
      socks.socket.write('opaque bytes');
      await whenClosed(socks.socket);
    });
  });

  describe('volume', () => {
    it('leaks no flow and no upstream socket over 2,000 sequential tunnels', async () => {
      const port = httpPort(main);
      const heapBefore = process.memoryUsage().heapUsed;
      for (let i = 0; i < 2000; i += 1) {
        const tunnel = await connectTunnel(port, `echo.test:${echo.port}`);
        if (tunnel.status !== 200) throw new Error(`tunnel ${i} answered ${tunnel.status}: ${tunnel.body}`);
        const echoed = await echoRoundTrip(tunnel.socket, `ping ${i}`);
        if (echoed.toString() !== `ping ${i}`) throw new Error(`tunnel ${i} echoed ${echoed.toString()}`);
        await closeTunnel(tunnel);
      }
      await eventually(() => main.proxy.registry.size === 0, 'the registry to drain');
      await eventually(() => echo.sockets.size === 0, 'the echo server to see every connection close');
      const heapAfter = process.memoryUsage().heapUsed;
      console.info(`2,000 tunnels: heapUsed ${(heapBefore / 2 ** 20).toFixed(1)} MiB -> ${(heapAfter / 2 ** 20).toFixed(1)} MiB (informational)`);
      expect(main.proxy.registry.size).toBe(0);
      expect(echo.sockets.size).toBe(0);
    }, 60_000);

    it('serves 1,000 requests over one keep-alive connection', async () => {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      let newConnections = 0;
      try {
        for (let i = 0; i < 1000; i += 1) {
          const { status, body, reused } = await new Promise<{ status: number; body: string; reused: boolean }>((resolve, reject) => {
            const request = http.get(
              { host: '127.0.0.1', port: httpPort(main), path: `http://app.test:${app.port}/${i}`, agent },
              (response) => {
                const chunks: Buffer[] = [];
                response.on('data', (chunk: Buffer) => chunks.push(chunk));
                response.on('end', () =>
                  resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString(), reused: request.reusedSocket }),
                );
              },
            );
            request.on('error', reject);
          });
          if (status !== 200 || body !== 'hello from upstream\n') throw new Error(`request ${i}: ${status} ${body}`);
          if (!reused) newConnections += 1;
        }
      } finally {
        agent.destroy();
      }
      expect(newConnections).toBe(1);
      await eventually(() => main.proxy.registry.size === 0, 'every request flow closed');
    }, 60_000);
  });

  describe('shutdown', () => {
    it('stops without waiting for stalled handshakes, and closes live tunnels', async () => {
      // Default timeouts: a stalled handshake would hold the listeners open for 10 s if stop() waited.
      const proxy = await startTestProxy(rules.dir, (config) => config.hosts.set('echo.test', ['127.0.0.1']));
      const tunnel = await connectTunnel(httpPort(proxy), `echo.test:${echo.port}`);
      expect(tunnel.status).toBe(200);
      const stalledSocks = await connectTo(proxy.socksPort);
      stalledSocks.write(Buffer.from([0x05]));
      const stalledHttp = await connectTo(httpPort(proxy));
      stalledHttp.write(`CONNECT echo.test:${echo.port} HTTP/1.1\r\n`);
      for (const socket of [tunnel.socket, stalledSocks, stalledHttp]) socket.on('error', () => undefined);

      await withDeadline(proxy.stop(), 5_000, 'stop() still waiting after 5 s');
      await Promise.all([whenClosed(tunnel.socket), whenClosed(stalledSocks), whenClosed(stalledHttp)]);
      const closed = proxy.log.named('flow.closed').at(-1);
      expect(closed?.event.reason).toBe('proxy stopping');
      expect(proxy.log.named('proxy.stopped')).toHaveLength(1);
    }, 20_000);
  });

  describe('SOCKS5 garbage', () => {
    const hostile: Array<[string, Buffer, { end: boolean }]> = [
      ['an HTTP request', Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), { end: false }],
      ['a lone version byte, then FIN', Buffer.from([0x05]), { end: true }],
      ['a greeting promising more methods than it sends, then FIN', Buffer.from([0x05, 0x05, 0x00]), { end: true }],
      ['a greeting with no methods', Buffer.from([0x05, 0x00]), { end: false }],
      ['a truncated CONNECT request, then FIN', Buffer.from([0x05, 0x01, 0x00, 0x05, 0x01, 0x00, 0x03, 0x10, 0x61]), { end: true }],
      ['an unknown address type', Buffer.from([0x05, 0x01, 0x00, 0x05, 0x01, 0x00, 0x09, 0x00, 0x00]), { end: false }],
      ['a zero-length domain', Buffer.from([0x05, 0x01, 0x00, 0x05, 0x01, 0x00, 0x03, 0x00, 0x00, 0x50]), { end: false }],
      ['a BIND request', Buffer.from([0x05, 0x01, 0x00, 0x05, 0x02, 0x00, 0x01, 127, 0, 0, 1, 0x00, 0x50]), { end: false }],
      ['user/password auth with a bad sub-version', Buffer.from([0x05, 0x01, 0x02, 0x07, 0x00]), { end: false }],
      ['user/password auth cut short, then FIN', Buffer.from([0x05, 0x01, 0x02, 0x01, 0x10, 0x61]), { end: true }],
      ['a flood of version bytes', Buffer.alloc(10_000, 0x05), { end: false }],
      ['random bytes', Buffer.from(Array.from({ length: 300 }, (_, i) => (i * 151 + 7) % 256)), { end: false }],
    ];

    it.each(hostile)('closes the connection on %s', async (_name, bytes, { end }) => {
      const socket = await connectTo(hasty.socksPort);
      const answer = readToEnd(socket);
      socket.on('error', () => undefined);
      if (end) socket.end(bytes);
      else socket.write(bytes);
      // Closed by the proxy: as a refusal, or at the latest by the 300 ms handshake timeout.
      await answer;
    });

    it('still serves SOCKS5 and HTTP afterwards', async () => {
      const socks = await socks5Connect(hasty.socksPort, 'echo.test', echo.port);
      expect(socks.reply).toBe(0x00);
      expect((await echoRoundTrip(socks.socket, 'alive')).toString()).toBe('alive');
      socks.socket.end();
      await whenClosed(socks.socket);
      const connect = await connectTunnel(httpPort(hasty), `echo.test:${echo.port}`);
      expect(connect.status).toBe(200);
      await closeTunnel(connect);
      expect(hasty.log.named('listener.error')).toEqual([]);
    });
  });
});
