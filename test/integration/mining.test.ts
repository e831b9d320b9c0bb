/**
 * Cryptocurrency mining through the proxy's tunnels: a raw TCP "miner" speaking the XMRig login or
 * Stratum V1 through CONNECT and SOCKS5 to a fake pool, and getwork over a keep-alive HTTP tunnel.
 * Mining is caught before a byte reaches the pool; the agent is quarantined (its open flows closed,
 * new ones refused with rule `quarantine`, the state persisted across a restart) until released.
 * With `detections: { stratum: alert }` or an audit-mode agent, nothing is blocked but all is reported.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChokepointEvent } from '../../src/events/types.js';
import { admittedFlowOf, eventually, nextEvent } from '../helpers/event-waits.js';
import { startTestProxy, type TestProxy } from '../helpers/proxy.js';
import { connectTo, connectTunnel, echoRoundTrip, readToEnd } from '../helpers/raw-clients.js';
import { DENY_UNKNOWN_POLICY, tempRules, type TempRules } from '../helpers/rules.js';
import { echoUpstream, httpUpstream, tcpUpstream, type Upstream } from '../helpers/upstreams.js';

const WALLET = '44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A';
const XMRIG_LOGIN =
  `{"id":1,"jsonrpc":"2.0","method":"login","params":{"login":"${WALLET}","pass":"x",` +
  `"agent":"XMRig/6.21.0 (Linux x86_64) libuv/1.44.2 gcc/12.2.0","algo":["rx/0"]}}\n`;
const STRATUM_V1_SUBSCRIBE = '{"id":1,"method":"mining.subscribe","params":["cgminer/4.10.0"]}\n';
/** What a pool answers a login with (a job to work on). */
const POOL_ANSWER = '{"id":1,"jsonrpc":"2.0","error":null,"result":{"id":"1","job":{"blob":"0707","job_id":"1","target":"b88d0600"},"status":"OK"}}\n';

/** A fake pool: counts connections and bytes, and answers each complete line. */
interface Pool {
  port: number;
  connections: number;
  bytes: number;
  close(): Promise<void>;
}

async function fakePool(): Promise<Pool> {
  const counted = { bytes: 0 };
  const upstream = await tcpUpstream((socket) => {
    socket.on('data', (chunk: Buffer) => {
      counted.bytes += chunk.length;
      if (chunk.includes(0x0a)) socket.write(POOL_ANSWER);
    });
  });
  return {
    port: upstream.port,
    get connections() {
      return upstream.connections;
    },
    get bytes() {
      return counted.bytes;
    },
    close: () => upstream.close(),
  };
}

/**
 * Reads from `socket` until `complete` says how many bytes make the expected message; the rest is
 * put back. The socket is left paused.
 */
function readMessage(socket: net.Socket, complete: (buffered: Buffer) => number | undefined): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let buffered = Buffer.alloc(0);
    const cleanup = (): void => {
      socket.off('data', onData);
      socket.off('close', onClose);
    };
    const onData = (chunk: Buffer): void => {
      buffered = Buffer.concat([buffered, chunk]);
      const length = complete(buffered);
      if (length === undefined) return;
      cleanup();
      socket.pause();
      if (buffered.length > length) socket.unshift(buffered.subarray(length));
      resolve(buffered.subarray(0, length));
    };
    const onClose = (): void => {
      cleanup();
      reject(new Error(`connection closed after ${buffered.length} bytes: ${JSON.stringify(buffered.toString('latin1'))}`));
    };
    socket.on('data', onData);
    socket.on('close', onClose);
    socket.resume();
  });
}

/** A SOCKS5 no-auth CONNECT from a chosen loopback source (the agent is told apart by it). */
async function socks5Tunnel(proxyPort: number, localAddress: string, host: string, port: number): Promise<{ reply: number; socket: net.Socket }> {
  const socket = await connectTo(proxyPort, localAddress);
  const name = Buffer.from(host, 'latin1');
  const portBytes = Buffer.alloc(2);
  portBytes.writeUInt16BE(port);
  socket.write(Buffer.concat([Buffer.from([0x05, 0x01, 0x00, 0x05, 0x01, 0x00, 0x03, name.length]), name, portBytes]));
  // Method choice (2 bytes), then VER REP RSV ATYP BND.ADDR BND.PORT.
  const answer = await readMessage(socket, (bytes) => {
    if (bytes.length < 7) return undefined;
    const atyp = bytes[5];
    const length = 2 + 4 + (atyp === 0x01 ? 4 : atyp === 0x04 ? 16 : 1 + (bytes[6] ?? 0)) + 2;
    return bytes.length >= length ? length : undefined;
  });
  return { reply: answer[3] ?? -1, socket };
}

/** One HTTP/1.1 exchange on an open keep-alive tunnel: writes `request`, reads a Content-Length response. */
async function exchange(socket: net.Socket, request: string): Promise<{ status: number; body: string }> {
  socket.write(request);
  const response = await readMessage(socket, (bytes) => {
    const end = bytes.indexOf('\r\n\r\n');
    if (end < 0) return undefined;
    const length = Number(/\r\ncontent-length: *(\d+)/i.exec(bytes.subarray(0, end).toString('latin1'))?.[1] ?? 0);
    return bytes.length >= end + 4 + length ? end + 4 + length : undefined;
  });
  const text = response.toString('utf8');
  return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), body: text.slice(text.indexOf('\r\n\r\n') + 4) };
}

function allowRules(name: string, source: string, mode: 'enforce' | 'audit', ports: number[]): string {
  return `agent: ${name}
mode: ${mode}
identify: { sources: ["${source}/32"] }
allow:
  - { host: pool.test, ports: [${ports.join(', ')}] }
  - { host: echo.test, ports: [${ports.join(', ')}] }
  - { host: app.test, ports: [${ports.join(', ')}] }
  - { cidr: 127.0.0.1/32, ports: [${ports.join(', ')}] }
`;
}

const flowNamed = (action: string, flowId: string | undefined) => (event: ChokepointEvent): boolean =>
  event.event.action === action && event.chokepoint.flow_id === flowId;

function addHosts(proxyConfig: { hosts: Map<string, string[]> }): void {
  for (const name of ['pool.test', 'echo.test', 'app.test']) proxyConfig.hosts.set(name, ['127.0.0.1']);
}

describe('mining through tunnels', () => {
  let rules: TempRules;
  let stateDir: string;
  let proxy: TestProxy;
  let pool: Pool;
  let echo: Upstream;
  let app: Upstream;
  const httpPort = (): number => proxy.proxy.http?.port ?? 0;
  const start = (): Promise<TestProxy> =>
    startTestProxy(rules.dir, (config) => {
      config.stateDir = stateDir;
      addHosts(config);
    });

  beforeAll(async () => {
    [pool, echo, app] = await Promise.all([fakePool(), echoUpstream(), httpUpstream()]);
    const ports = [pool.port, echo.port, app.port];
    rules = await tempRules(DENY_UNKNOWN_POLICY, {
      xmrig: allowRules('xmrig', '127.0.0.2', 'enforce', ports),
      socksminer: allowRules('socksminer', '127.0.0.3', 'enforce', ports),
      v1miner: allowRules('v1miner', '127.0.0.4', 'enforce', ports),
      getwork: allowRules('getwork', '127.0.0.5', 'enforce', ports),
      auditor: allowRules('auditor', '127.0.0.6', 'audit', ports),
    });
    stateDir = await mkdtemp(path.join(tmpdir(), 'chokepoint-state-'));
    proxy = await start();
  });
  afterAll(async () => {
    await proxy?.stop();
    await Promise.all([pool?.close(), echo?.close(), app?.close()]);
    await rules?.remove();
    await rm(stateDir, { recursive: true, force: true });
  });

  describe('an XMRig login through CONNECT', () => {
    it('never reaches the pool, quarantines the agent, closes its open flow and refuses new ones', async ({ annotate }) => {
      const poolBefore = { connections: pool.connections, bytes: pool.bytes };
      // A flow of the same agent that is already open and working.
      const open = await connectTunnel(httpPort(), `echo.test:${echo.port}`, { localAddress: '127.0.0.2' });
      expect((await echoRoundTrip(open.socket, 'still here\n')).toString()).toBe('still here\n');
      const openFlowId = admittedFlowOf(proxy.log, open.socket.localPort).chokepoint.flow_id;

      const miner = await connectTunnel(httpPort(), `pool.test:${pool.port}`, { localAddress: '127.0.0.2' });
      expect(miner.status).toBe(200);
      const minerFlowId = admittedFlowOf(proxy.log, miner.socket.localPort).chokepoint.flow_id;
      const openEnded = readToEnd(open.socket);
      const answer = readToEnd(miner.socket);
      miner.socket.write(XMRIG_LOGIN);
      expect((await answer).length).toBe(0);
      expect((await openEnded).length).toBe(0);

      expect(pool.connections).toBe(poolBefore.connections);
      expect(pool.bytes).toBe(poolBefore.bytes);

      const detection = await proxy.log.waitFor(flowNamed('detection.stratum', minerFlowId));
      expect(detection.network?.protocol).toBe('stratum');
      expect(detection.chokepoint.detection).toMatchObject({ kind: 'stratum', action: 'quarantine', direction: 'up' });
      expect(detection.chokepoint.detection?.time_to_detect_ms).toBeGreaterThanOrEqual(0);
      expect(detection.chokepoint.detection?.evidence).toMatch(/login/);
      const stratum = detection.chokepoint.classification?.stratum;
      expect(stratum).toMatchObject({ dialect: 'cryptonote', method: 'login', agent: 'XMRig/6.21.0 (Linux x86_64) libuv/1.44.2 gcc/12.2.0' });
      expect(stratum?.login).toMatch(/^44AFFq.{0,4}…$/);
      const quarantined = await proxy.log.waitFor((e) => e.event.action === 'agent.quarantined' && e.chokepoint.agent === 'xmrig');
      expect(quarantined.chokepoint.flow_id).toBe(minerFlowId);
      const denied = await proxy.log.waitFor(flowNamed('flow.denied', minerFlowId));
      expect(denied.rule?.id).toBe('detection.stratum');
      const openClosed = await proxy.log.waitFor(flowNamed('flow.closed', openFlowId));
      expect(openClosed.event.reason).toMatch(/quarantined/);
      // The wallet is never in an event in full.
      expect(JSON.stringify(proxy.log.events)).not.toContain(WALLET.slice(0, 12));

      const refused = await connectTunnel(httpPort(), `echo.test:${echo.port}`, { localAddress: '127.0.0.2' });
      expect(refused.status).toBe(403);
      expect(JSON.parse(refused.body)).toMatchObject({ rule: 'quarantine', agent: 'xmrig' });

      const stateFile = path.join(stateDir, 'quarantine.json');
      await eventually(() => existsSync(stateFile), `${stateFile} to be written`);
      const state = readFileSync(stateFile, 'utf8');
      expect(JSON.parse(state)).toMatchObject({ quarantined: [{ agent: 'xmrig', trigger: 'stratum', flowId: minerFlowId }] });
      expect(state).not.toContain(WALLET.slice(0, 12));
      await annotate(`XMRig login via CONNECT: stratum detected after ${detection.chokepoint.detection?.time_to_detect_ms} ms`);
    });

    it('keeps the agent quarantined across a restart with the same state directory', async () => {
      await proxy.stop();
      proxy = await start();
      const refused = await connectTunnel(httpPort(), `echo.test:${echo.port}`, { localAddress: '127.0.0.2' });
      expect(refused.status).toBe(403);
      expect(JSON.parse(refused.body)).toMatchObject({ rule: 'quarantine', agent: 'xmrig' });
      expect(JSON.parse(refused.body).reason).toMatch(/quarantined since .* \(stratum: /);
    });

    it('lets the agent out once released', async () => {
      expect(await proxy.proxy.pipeline.quarantine.release('xmrig')).toBe(true);
      const tunnel = await connectTunnel(httpPort(), `echo.test:${echo.port}`, { localAddress: '127.0.0.2' });
      expect(tunnel.status).toBe(200);
      expect((await echoRoundTrip(tunnel.socket, 'back again\n')).toString()).toBe('back again\n');
      tunnel.socket.end();
      await readToEnd(tunnel.socket);
      const state = JSON.parse(readFileSync(path.join(stateDir, 'quarantine.json'), 'utf8')) as { quarantined: unknown[] };
      expect(state.quarantined).toEqual([]);
    });
  });

  it('catches the XMRig login through SOCKS5 too, before the pool sees a byte', async ({ annotate }) => {
    const poolBefore = { connections: pool.connections, bytes: pool.bytes };
    const quarantined = nextEvent(proxy.log, (e) => e.event.action === 'agent.quarantined' && e.chokepoint.agent === 'socksminer');
    const miner = await socks5Tunnel(proxy.socksPort, '127.0.0.3', 'pool.test', pool.port);
    expect(miner.reply).toBe(0);
    const flowId = admittedFlowOf(proxy.log, miner.socket.localPort).chokepoint.flow_id;
    const answer = readToEnd(miner.socket);
    miner.socket.write(XMRIG_LOGIN);
    expect((await answer).length).toBe(0);
    await quarantined;

    const detection = await proxy.log.waitFor(flowNamed('detection.stratum', flowId));
    expect(detection.chokepoint.entry).toBe('socks5');
    expect(detection.chokepoint.detection?.time_to_detect_ms).toBeGreaterThanOrEqual(0);
    expect(pool.connections).toBe(poolBefore.connections);
    expect(pool.bytes).toBe(poolBefore.bytes);
    const again = await socks5Tunnel(proxy.socksPort, '127.0.0.3', 'echo.test', echo.port);
    expect(again.reply).not.toBe(0);
    await annotate(`XMRig login via SOCKS5: stratum detected after ${detection.chokepoint.detection?.time_to_detect_ms} ms`);
  });

  it('catches Stratum V1 mining.subscribe through CONNECT', async ({ annotate }) => {
    const poolBefore = { connections: pool.connections, bytes: pool.bytes };
    const miner = await connectTunnel(httpPort(), `pool.test:${pool.port}`, { localAddress: '127.0.0.4' });
    const flowId = admittedFlowOf(proxy.log, miner.socket.localPort).chokepoint.flow_id;
    const answer = readToEnd(miner.socket);
    miner.socket.write(STRATUM_V1_SUBSCRIBE);
    expect((await answer).length).toBe(0);

    const detection = await proxy.log.waitFor(flowNamed('detection.stratum', flowId));
    expect(detection.chokepoint.classification?.stratum).toMatchObject({ dialect: 'stratum-v1', method: 'mining.subscribe' });
    expect(detection.chokepoint.detection?.evidence).toMatch(/mining\.subscribe/);
    await proxy.log.waitFor((e) => e.event.action === 'agent.quarantined' && e.chokepoint.agent === 'v1miner');
    expect(pool.connections).toBe(poolBefore.connections);
    expect(pool.bytes).toBe(poolBefore.bytes);
    await annotate(`Stratum V1 subscribe via CONNECT: stratum detected after ${detection.chokepoint.detection?.time_to_detect_ms} ms`);
  });

  it('catches a getwork request after ten harmless ones on one keep-alive tunnel, before it is forwarded', async ({ annotate }) => {
    const requestsBefore = app.requests.length;
    const tunnel = await connectTunnel(httpPort(), `app.test:${app.port}`, { localAddress: '127.0.0.5' });
    const flowId = admittedFlowOf(proxy.log, tunnel.socket.localPort).chokepoint.flow_id;
    for (let index = 1; index <= 10; index += 1) {
      const response = await exchange(tunnel.socket, `GET /page/${index} HTTP/1.1\r\nHost: app.test:${app.port}\r\nUser-Agent: curl/7.88.1\r\n\r\n`);
      expect(response).toEqual({ status: 200, body: 'hello from upstream\n' });
    }
    expect(app.requests.length).toBe(requestsBefore + 10);

    const body = '{"method":"getwork","params":[],"id":1}';
    const refusal = readToEnd(tunnel.socket);
    tunnel.socket.write(
      `POST / HTTP/1.1\r\nHost: app.test:${app.port}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
    );
    const text = (await refusal).toString('utf8');
    expect(text).toMatch(/^HTTP\/1\.1 403 /);
    expect(text).toContain('"rule":"detection.stratum"');

    const detection = await proxy.log.waitFor(flowNamed('detection.stratum', flowId));
    expect(detection.network?.protocol).toBe('http');
    expect(detection.chokepoint.classification?.stratum).toMatchObject({ dialect: 'getwork', method: 'getwork' });
    expect(detection.chokepoint.detection?.time_to_detect_ms).toBeGreaterThanOrEqual(0);
    await proxy.log.waitFor(flowNamed('flow.closed', flowId));
    expect(app.requests.length).toBe(requestsBefore + 10);
    expect(app.requests.some((request) => request.method === 'POST')).toBe(false);
    await annotate(`getwork as the 11th keep-alive request: stratum detected after ${detection.chokepoint.detection?.time_to_detect_ms} ms (from the flow's start)`);
  });

  it('blocks nothing for an audit-mode agent, reporting the detection with enforced: false', async () => {
    const poolBefore = pool.bytes;
    const miner = await connectTunnel(httpPort(), `pool.test:${pool.port}`, { localAddress: '127.0.0.6' });
    const flowId = admittedFlowOf(proxy.log, miner.socket.localPort).chokepoint.flow_id;
    const reply = readMessage(miner.socket, (bytes) => (bytes.length >= POOL_ANSWER.length ? POOL_ANSWER.length : undefined));
    miner.socket.write(XMRIG_LOGIN);
    expect((await reply).toString()).toBe(POOL_ANSWER);
    expect(pool.bytes).toBe(poolBefore + Buffer.byteLength(XMRIG_LOGIN));

    const detection = await proxy.log.waitFor(flowNamed('detection.stratum', flowId));
    expect(detection.chokepoint).toMatchObject({ agent_mode: 'audit', enforced: false });
    expect(detection.chokepoint.detection?.action).toBe('quarantine');
    miner.socket.end();
    await readToEnd(miner.socket);
    expect(proxy.log.named('agent.quarantined').some((e) => e.chokepoint.agent === 'auditor')).toBe(false);
    const next = await connectTunnel(httpPort(), `echo.test:${echo.port}`, { localAddress: '127.0.0.6' });
    expect(next.status).toBe(200);
    next.socket.end();
    await readToEnd(next.socket);
  });
});

describe('mining with detections: { stratum: alert }', () => {
  let rules: TempRules;
  let proxy: TestProxy;
  let pool: Pool;
  let echo: Upstream;

  beforeAll(async () => {
    [pool, echo] = await Promise.all([fakePool(), echoUpstream()]);
    rules = await tempRules(`${DENY_UNKNOWN_POLICY}detections:\n  stratum: alert\n`, {
      watched: allowRules('watched', '127.0.0.1', 'enforce', [pool.port, echo.port]),
    });
    proxy = await startTestProxy(rules.dir, addHosts);
  });
  afterAll(async () => {
    await proxy?.stop();
    await Promise.all([pool?.close(), echo?.close()]);
    await rules?.remove();
  });

  it('lets the flow through and emits the alert, with no quarantine', async () => {
    const port = proxy.proxy.http?.port ?? 0;
    const miner = await connectTunnel(port, `pool.test:${pool.port}`);
    const flowId = admittedFlowOf(proxy.log, miner.socket.localPort).chokepoint.flow_id;
    const reply = readMessage(miner.socket, (bytes) => (bytes.length >= POOL_ANSWER.length ? POOL_ANSWER.length : undefined));
    miner.socket.write(XMRIG_LOGIN);
    expect((await reply).toString()).toBe(POOL_ANSWER);
    expect(pool.bytes).toBe(Buffer.byteLength(XMRIG_LOGIN));

    const detection = await proxy.log.waitFor(flowNamed('detection.stratum', flowId));
    expect(detection.event.kind).toBe('alert');
    expect(detection.chokepoint.detection?.action).toBe('alert');
    expect(detection.chokepoint.enforced).toBe(false);
    miner.socket.end();
    await readToEnd(miner.socket);
    expect(proxy.log.named('agent.quarantined')).toEqual([]);
    expect(proxy.log.named('flow.denied')).toEqual([]);
    const next = await connectTunnel(port, `echo.test:${echo.port}`);
    expect(next.status).toBe(200);
    next.socket.end();
    await readToEnd(next.socket);
  });
});
