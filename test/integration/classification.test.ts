/**
 * Protocol classification and protocol-aware policy on CONNECT tunnels, with real clients where there
 * is one (curl, Node's TLS client): the first bytes of a tunnel are read before anything is dialled,
 * named (TLS with its SNI, HTTP with its Host, nested SOCKS, WebSocket after an upgrade, nothing at
 * all from a server-speaks-first client) and judged against the rule that allowed the target. A
 * refused flow never reaches its destination, and the agent is told why in its own protocol.
 * Mining-specific cases are in mining.test.ts, OpenSSH in ssh-through-proxy.test.ts.
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChokepointEvent } from '../../src/events/types.js';
import { curl } from '../helpers/curl.js';
import { admittedFlowOf, nextEvent } from '../helpers/event-waits.js';
import { startTestProxy, type TestProxy } from '../helpers/proxy.js';
import { connectTunnel, readHead, readToEnd, whenClosed } from '../helpers/raw-clients.js';
import { DENY_UNKNOWN_POLICY, tempRules, type TempRules } from '../helpers/rules.js';
import { echoUpstream, httpsUpstream, httpUpstream, tcpUpstream, type Upstream } from '../helpers/upstreams.js';

/** A TCP server that speaks first (`220 hello`, like SMTP) and counts its connections. */
function bannerServer(): Promise<Upstream> {
  return tcpUpstream((socket) => socket.write('220 hello\r\n'));
}

const WEBSOCKET_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

interface WebSocketServer {
  port: number;
  /** Bytes received after the handshake, over every connection. */
  frameBytes: number;
  /** Resolves when the first upgraded connection is closed. */
  upgradedClosed: Promise<void>;
  close(): Promise<void>;
}

/** A minimal WebSocket endpoint: answers the upgrade, then only counts what it receives. */
async function webSocketServer(): Promise<WebSocketServer> {
  const sockets = new Set<net.Socket>();
  let markClosed: () => void = () => undefined;
  const server = http.createServer((_req, res) => res.end('not a websocket request\n'));
  const endpoint: WebSocketServer = {
    port: 0,
    frameBytes: 0,
    upgradedClosed: new Promise<void>((resolve) => (markClosed = resolve)),
    close: async () => {
      for (const socket of sockets) socket.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  server.on('upgrade', (request: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    sockets.add(socket);
    const key = String(request.headers['sec-websocket-key'] ?? '');
    const accept = createHash('sha1').update(key + WEBSOCKET_GUID).digest('base64');
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
    endpoint.frameBytes += head.length;
    socket.on('data', (chunk: Buffer) => (endpoint.frameBytes += chunk.length));
    // Upgraded sockets of an http.Server allow half-open connections: answer the peer's FIN.
    socket.on('end', () => socket.end());
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      sockets.delete(socket);
      markClosed();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint.port = (server.address() as AddressInfo).port;
  return endpoint;
}

/** A client WebSocket text frame (FIN, opcode 1), masked as RFC 6455 §5.3 requires of clients. */
function maskedTextFrame(text: string): Buffer {
  const payload = Buffer.from(text, 'utf8');
  if (payload.length >= 126) throw new Error('this helper writes short frames only');
  const mask = Buffer.from([0x12, 0x34, 0x56, 0x78]);
  const masked = Buffer.from(payload.map((byte, index) => byte ^ (mask[index % 4] ?? 0)));
  return Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, masked]);
}

/** The JSON body of an HTTP answer read to its end. */
function jsonBody(answer: string): Record<string, unknown> {
  return JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) as Record<string, unknown>;
}

const named = (action: string, flowId: string | undefined) => (event: ChokepointEvent): boolean =>
  event.event.action === action && event.chokepoint.flow_id === flowId;

describe('protocol classification on CONNECT tunnels', () => {
  let rules: TempRules;
  let proxy: TestProxy;
  let proxyPort: number;
  let tlsServer: Upstream & { certPath: string };
  let app: Upstream;
  let echo: Upstream;
  let banner: Awaited<ReturnType<typeof bannerServer>>;
  let webSocket: WebSocketServer;

  beforeAll(async () => {
    [tlsServer, app, echo, banner, webSocket] = await Promise.all([
      httpsUpstream(['tls.test', 'other.test']),
      httpUpstream(),
      echoUpstream(),
      bannerServer(),
      webSocketServer(),
    ]);
    const ports = [tlsServer.port, app.port, echo.port, banner.port, webSocket.port].join(', ');
    // `web` (127.0.0.1) runs most cases; `socket` (127.0.0.2) gets quarantined by the WebSocket case
    // (quarantine state lives in the temp rules directory, see startTestProxy).
    rules = await tempRules(DENY_UNKNOWN_POLICY, {
      web: `agent: web
identify: { sources: ["127.0.0.1/32"] }
allow:
  - { host: tls.test, ports: [${tlsServer.port}] }
  - { host: tlsonly.test, ports: [${app.port}], protocols: [tls] }
  - { host: app.test, ports: [${app.port}] }
  - { host: echo.test, ports: [${echo.port}] }
  - { host: banner.test, ports: [${banner.port}] }
  - { cidr: 127.0.0.1/32, ports: [${ports}] }
`,
      socket: `agent: socket
identify: { sources: ["127.0.0.2/32"] }
allow:
  - { host: ws.test, ports: [${webSocket.port}] }
  - { cidr: 127.0.0.1/32, ports: [${webSocket.port}] }
`,
    });
    proxy = await startTestProxy(rules.dir, (config) => {
      for (const name of ['tls.test', 'other.test', 'tlsonly.test', 'app.test', 'echo.test', 'banner.test', 'ws.test']) {
        config.hosts.set(name, ['127.0.0.1']);
      }
    });
    proxyPort = proxy.proxy.http?.port ?? 0;
  });
  afterAll(async () => {
    await proxy?.stop();
    await Promise.all([tlsServer?.close(), app?.close(), echo?.close(), banner?.close(), webSocket?.close()]);
    await rules?.remove();
  });

  it('carries curl over HTTPS whose SNI names the CONNECT host, and the close event says tls with its SNI and JA4', async () => {
    const closed = nextEvent(proxy.log, (e) => e.event.action === 'flow.closed' && e.destination?.domain === 'tls.test');
    const result = await curl(['-x', proxy.httpUrl, '--cacert', tlsServer.certPath, `https://tls.test:${tlsServer.port}/sni`]);
    expect(result.code).toBe(0);
    expect(result.body).toBe('hello over tls\n');
    expect(tlsServer.requests.at(-1)?.url).toBe('/sni');

    const event = await closed;
    expect(event.network?.protocol).toBe('tls');
    const facts = event.chokepoint.classification?.tls;
    expect(facts?.sni).toBe('tls.test');
    expect(facts?.ja4).toMatch(/^t1[0-3]d\d{4}[a-z0-9]{2}_[0-9a-f]{12}_[0-9a-f]{12}$/);
    expect(facts?.alpn).toContain('http/1.1');
    expect(proxy.log.events.some((e) => e.chokepoint.flow_id === event.chokepoint.flow_id && e.event.action.startsWith('detection.'))).toBe(false);
  });

  it('refuses curl whose SNI differs from the CONNECT host (--connect-to): sni_mismatch, never dialled', async ({ annotate }) => {
    const before = tlsServer.connections;
    const detected = nextEvent(proxy.log, (e) => e.event.action === 'detection.sni_mismatch');
    // curl sends CONNECT tls.test:PORT but names other.test in its ClientHello.
    const result = await curl([
      '-x', proxy.httpUrl, '--cacert', tlsServer.certPath,
      '--connect-to', `other.test:${tlsServer.port}:tls.test:${tlsServer.port}`,
      `https://other.test:${tlsServer.port}/fronted`,
    ]);
    expect(result.connectStatus).toBe(200);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/alert access denied/i);

    const event = await detected;
    expect(event.destination?.domain).toBe('tls.test');
    expect(event.chokepoint.classification?.tls?.sni).toBe('other.test');
    expect(event.chokepoint.detection).toMatchObject({ kind: 'sni_mismatch', action: 'deny', confidence: 'high' });
    expect(event.chokepoint.detection?.evidence).toMatch(/tunnel to tls\.test but TLS SNI is other\.test/);
    expect(event.chokepoint.detection?.time_to_detect_ms).toBeGreaterThanOrEqual(0);
    const denied = await proxy.log.waitFor(named('flow.denied', event.chokepoint.flow_id));
    expect(denied.rule?.id).toBe('detection.sni_mismatch');
    expect(tlsServer.connections).toBe(before);
    await annotate(`curl --connect-to: sni_mismatch detected after ${event.chokepoint.detection?.time_to_detect_ms} ms`);
  });

  it('refuses a TLS ClientHello without SNI on a tunnel to a host name: missing_sni, never dialled', async ({ annotate }) => {
    const before = tlsServer.connections;
    const tunnel = await connectTunnel(proxyPort, `tls.test:${tlsServer.port}`);
    expect(tunnel.status).toBe(200);
    const flowId = admittedFlowOf(proxy.log, tunnel.socket.localPort).chokepoint.flow_id;
    const detected = proxy.log.waitFor(named('detection.missing_sni', flowId));
    // An empty servername: Node sends no server_name extension at all.
    const client = tls.connect({ socket: tunnel.socket, servername: '', rejectUnauthorized: false });
    const failure = await new Promise<NodeJS.ErrnoException>((resolve, reject) => {
      client.once('error', resolve);
      client.once('secureConnect', () => reject(new Error('the TLS handshake completed')));
    });
    expect(failure.code).toBe('ERR_SSL_TLSV1_ALERT_ACCESS_DENIED');

    const event = await detected;
    expect(event.chokepoint.classification?.tls?.sni).toBeUndefined();
    expect(event.chokepoint.classification?.tls?.ja4).toMatch(/^t1[0-3]i/);
    expect(event.chokepoint.detection).toMatchObject({ kind: 'missing_sni', action: 'deny' });
    expect(event.chokepoint.detection?.evidence).toMatch(/without SNI on a tunnel to tls\.test/);
    expect(event.chokepoint.detection?.time_to_detect_ms).toBeGreaterThanOrEqual(0);
    expect(tlsServer.connections).toBe(before);
    await annotate(`node tls.connect without SNI: missing_sni detected after ${event.chokepoint.detection?.time_to_detect_ms} ms`);
  });

  it('answers plain HTTP inside a tunnel whose rule says protocols: [tls] with a 403 JSON reason', async ({ annotate }) => {
    const before = app.connections;
    const tunnel = await connectTunnel(proxyPort, `tlsonly.test:${app.port}`);
    expect(tunnel.status).toBe(200);
    const flowId = admittedFlowOf(proxy.log, tunnel.socket.localPort).chokepoint.flow_id;
    const answer = readToEnd(tunnel.socket);
    tunnel.socket.write(`GET /plain HTTP/1.1\r\nHost: tlsonly.test:${app.port}\r\n\r\n`);
    const text = (await answer).toString('utf8');
    expect(text).toMatch(/^HTTP\/1\.1 403 Forbidden\r\n/);
    expect(text).toMatch(/\r\nchokepoint-reason: tlsonly\.test:\d+ is allowed only for tls, but this connection speaks http\r\n/);
    expect(jsonBody(text)).toMatchObject({
      error: 'denied',
      rule: 'detection.protocol_not_allowed',
      agent: 'web',
      flow: flowId,
      reason: `tlsonly.test:${app.port} is allowed only for tls, but this connection speaks http`,
    });

    const event = await proxy.log.waitFor(named('detection.protocol_not_allowed', flowId));
    expect(event.network?.protocol).toBe('http');
    expect(event.chokepoint.classification?.http).toMatchObject({ method: 'GET', target: '/plain' });
    expect(event.chokepoint.detection?.time_to_detect_ms).toBeGreaterThanOrEqual(0);
    expect(app.connections).toBe(before);
    await annotate(`raw HTTP on a tls-only rule: protocol_not_allowed detected after ${event.chokepoint.detection?.time_to_detect_ms} ms`);
  });

  it('refuses an HTTP request whose Host is not the CONNECT host: host_mismatch, never dialled', async () => {
    const before = app.connections;
    const tunnel = await connectTunnel(proxyPort, `app.test:${app.port}`);
    const flowId = admittedFlowOf(proxy.log, tunnel.socket.localPort).chokepoint.flow_id;
    const answer = readToEnd(tunnel.socket);
    tunnel.socket.write(`GET / HTTP/1.1\r\nHost: elsewhere.test\r\n\r\n`);
    const text = (await answer).toString('utf8');
    expect(text).toMatch(/^HTTP\/1\.1 403 /);
    expect(jsonBody(text)).toMatchObject({ rule: 'detection.host_mismatch' });
    const event = await proxy.log.waitFor(named('detection.host_mismatch', flowId));
    expect(event.chokepoint.detection?.evidence).toMatch(/HTTP Host is elsewhere\.test/);
    expect(app.connections).toBe(before);
  });

  it('refuses a SOCKS5 greeting sent inside a CONNECT tunnel: nested_proxy, nothing dialled', async ({ annotate }) => {
    const before = echo.connections;
    const tunnel = await connectTunnel(proxyPort, `echo.test:${echo.port}`);
    expect(tunnel.status).toBe(200);
    const flowId = admittedFlowOf(proxy.log, tunnel.socket.localPort).chokepoint.flow_id;
    const answer = readToEnd(tunnel.socket);
    tunnel.socket.write(Buffer.from([0x05, 0x01, 0x00]));
    expect((await answer).length).toBe(0);

    const event = await proxy.log.waitFor(named('detection.nested_proxy', flowId));
    expect(event.network?.protocol).toBe('socks');
    expect(event.chokepoint.detection).toMatchObject({ kind: 'nested_proxy', action: 'deny', confidence: 'high', direction: 'up' });
    expect(event.chokepoint.detection?.evidence).toMatch(/SOCKS5 greeting/);
    expect(event.chokepoint.detection?.time_to_detect_ms).toBeGreaterThanOrEqual(0);
    const denied = await proxy.log.waitFor(named('flow.denied', flowId));
    expect(denied.rule?.id).toBe('detection.nested_proxy');
    expect(echo.connections).toBe(before);
    await annotate(`SOCKS5 greeting in CONNECT: nested_proxy detected after ${event.chokepoint.detection?.time_to_detect_ms} ms`);
  });

  it('closes a WebSocket tunnel on a Stratum message before the frame reaches the server', async ({ annotate }) => {
    const tunnel = await connectTunnel(proxyPort, `ws.test:${webSocket.port}`, { localAddress: '127.0.0.2' });
    expect(tunnel.status).toBe(200);
    const flowId = admittedFlowOf(proxy.log, tunnel.socket.localPort).chokepoint.flow_id;
    tunnel.socket.write(
      `GET /socket HTTP/1.1\r\nHost: ws.test:${webSocket.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    );
    // connectTunnel leaves the tunnel paused; reading it needs an explicit resume.
    const answer = readHead(tunnel.socket);
    tunnel.socket.resume();
    const { head, rest } = await answer;
    expect(head).toMatch(/^HTTP\/1\.1 101 /);
    expect(rest.length).toBe(0);

    const closed = readToEnd(tunnel.socket);
    tunnel.socket.write(maskedTextFrame('{"id":1,"method":"mining.subscribe","params":["cpuminer/2.5.1"]}'));
    // The refusal is a close frame (the client reads frames now): 1008 policy violation with the reason.
    const closeFrame = await closed;
    expect(closeFrame[0]).toBe(0x88);
    expect(closeFrame.readUInt16BE(2)).toBe(1008);
    expect(closeFrame.subarray(4).toString('utf8')).toMatch(/^chokepoint: cryptocurrency mining traffic is forbidden/);
    expect(closeFrame[1]).toBe(closeFrame.length - 2);
    await webSocket.upgradedClosed;
    expect(webSocket.frameBytes).toBe(0);

    const event = await proxy.log.waitFor(named('detection.stratum', flowId));
    expect(event.chokepoint.classification?.websocket).toBe(true);
    expect(event.chokepoint.detection).toMatchObject({ kind: 'stratum', action: 'quarantine', direction: 'up' });
    expect(event.chokepoint.detection?.evidence).toMatch(/mining\.subscribe/);
    expect(event.chokepoint.detection?.time_to_detect_ms).toBeGreaterThanOrEqual(0);
    await proxy.log.waitFor((e) => e.event.action === 'agent.quarantined' && e.chokepoint.agent === 'socket');
    const flowClosed = await proxy.log.waitFor(named('flow.closed', flowId));
    expect(flowClosed.network?.protocol).toBe('websocket');
    await annotate(`Stratum over WebSocket: stratum detected after ${event.chokepoint.detection?.time_to_detect_ms} ms`);
  });

  it('lets a silent client reach a server that speaks first; the flow is named unknown', async () => {
    const before = banner.connections;
    const tunnel = await connectTunnel(proxyPort, `banner.test:${banner.port}`);
    expect(tunnel.status).toBe(200);
    const flowId = admittedFlowOf(proxy.log, tunnel.socket.localPort).chokepoint.flow_id;
    const greeting = await new Promise<string>((resolve) => {
      let text = '';
      tunnel.socket.setEncoding('utf8').on('data', (chunk: string) => {
        text += chunk;
        if (text.includes('\r\n')) resolve(text);
      });
      tunnel.socket.resume();
    });
    expect(greeting).toBe('220 hello\r\n');
    expect(banner.connections).toBe(before + 1);
    tunnel.socket.end();
    await whenClosed(tunnel.socket);

    const closed = await proxy.log.waitFor(named('flow.closed', flowId));
    expect(closed.network?.protocol).toBe('unknown');
    expect(closed.destination?.bytes).toBe('220 hello\r\n'.length);
    expect(proxy.log.events.some((e) => e.chokepoint.flow_id === flowId && e.event.action.startsWith('detection.'))).toBe(false);
  });
});
