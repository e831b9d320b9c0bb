/**
 * The syslog sink against a real rsyslogd (started here with its own config): RFC 5424 over UDP, TCP
 * with octet-counted framing and TLS with a client certificate. rsyslog's own parse of each message
 * (PRI, APP-NAME, MSGID, structured data, MSG) is checked, and the MSG is the JSON event.
 */
import type net from 'node:net';
import { afterAll, beforeAll, beforeEach, afterEach, describe, expect, it } from 'vitest';
import type { SinkConfig, SyslogSinkConfig } from '../../src/sinks/sink-config.js';
import { rsyslogUnavailable, startRsyslog, type ReceivedMessage, type Rsyslog } from '../helpers/rsyslog.js';
import { curl } from '../helpers/curl.js';
import { emitNumbered, numberOf, range, sinkWorkspace, startSinkProxy, type SinkWorkspace } from '../helpers/sinks.js';
import { httpUpstream, tcpUpstream, type Upstream } from '../helpers/upstreams.js';

const unavailable = rsyslogUnavailable();

describe.skipIf(unavailable !== undefined)(`syslog sink against rsyslogd${unavailable ? ` (skipped: ${unavailable})` : ''}`, () => {
  let rsyslog: Rsyslog;
  let workspace: SinkWorkspace;

  beforeAll(async () => {
    rsyslog = await startRsyslog();
  });
  afterAll(() => rsyslog?.stop());
  beforeEach(async () => {
    workspace = await sinkWorkspace();
  });
  afterEach(() => workspace.remove());

  const base = (name: string, over: Partial<SyslogSinkConfig>): SinkConfig => ({
    type: 'syslog',
    name,
    format: 'ecs',
    queueMax: 10_000,
    transport: 'udp',
    host: '127.0.0.1',
    port: rsyslog.udpPort,
    facility: 16,
    appName: name,
    reconnectMs: 100,
    ...over,
  });

  /** The test's numbered events as rsyslog stored them, by the app-name that identifies the sink. */
  const numbered = (appName: string) => (message: ReceivedMessage): boolean => message.appName === appName && message.msgId === 'flow.denied';

  async function deliverAndCheck(name: string, over: Partial<SyslogSinkConfig>, input: string, count: number): Promise<void> {
    const { proxy } = await startSinkProxy(workspace, [base(name, over)]);
    try {
      emitNumbered(proxy, 0, count);
      const messages = await rsyslog.waitFor(numbered(name), count);
      expect(messages.every((message) => message.input === input)).toBe(true);
      // local0 (16) * 8 + notice (5): flow.denied is a low-severity event (event.severity 2).
      expect(messages.every((message) => message.pri === 133)).toBe(true);
      expect(messages[0]?.structuredData).toMatch(/^\[chokepoint@32473 seq="\d+" kind="event"\]$/);
      const numbers = messages.map((message) => numberOf(JSON.parse(message.msg)));
      expect(numbers).toEqual(range(0, count));
    } finally {
      await proxy.stop();
    }
  }

  it('delivers RFC 5424 over UDP', async () => {
    await deliverAndCheck('cp-udp', { transport: 'udp', port: rsyslog.udpPort }, 'imudp', 20);
  });

  it('delivers RFC 5424 over TCP with octet-counted framing, in order', async () => {
    await deliverAndCheck('cp-tcp', { transport: 'tcp', port: rsyslog.tcpPort }, 'imptcp', 500);
  });

  it('delivers RFC 5424 over TLS, verifying the server and presenting a client certificate', async () => {
    await deliverAndCheck(
      'cp-tls',
      { transport: 'tls', port: rsyslog.tlsPort, caFile: rsyslog.caFile, certFile: rsyslog.clientCertFile, keyFile: rsyslog.clientKeyFile },
      'imtcp',
      200,
    );
  });

  it('cuts a message over 2048 octets for UDP (RFC 5426) at a character boundary, says so, and delivers the rest', async () => {
    const { proxy, log } = await startSinkProxy(workspace, [base('cp-udpbig', { transport: 'udp', port: rsyslog.udpPort })]);
    try {
      // 3-octet characters, so the cut falls inside one unless it is made at a boundary.
      proxy.events.emit({ name: 'flow.denied', reason: 'oversized', details: { n: -1, pad: '€'.repeat(2_000) } });
      emitNumbered(proxy, 0, 5);
      const [cut, ...rest] = await rsyslog.waitFor(numbered('cp-udpbig'), 6);
      expect(rest.map((message) => numberOf(JSON.parse(message.msg)))).toEqual(range(0, 5));
      // The header and structured data survive; the JSON is cut, within the limit, on a whole character.
      expect(cut?.structuredData).toMatch(/^\[chokepoint@32473 seq="\d+" kind="event"\]$/);
      expect(cut?.msg).toMatch(/^\{.*€$/);
      expect(Buffer.byteLength(cut?.msg ?? '')).toBeLessThan(2048);
      const error = await log.waitFor((event) => event.event.action === 'sink.error' && event.chokepoint.details?.sink === 'cp-udpbig');
      expect(error.event.reason).toMatch(/longer than max_message_bytes 2048/);
    } finally {
      await proxy.stop();
    }
  });

  it('frames multibyte messages by octets over TCP, and cuts one over max_message_bytes without losing the framing', async () => {
    const name = 'cp-tcputf8';
    const { proxy, log } = await startSinkProxy(workspace, [base(name, { transport: 'tcp', port: rsyslog.tcpPort, maxMessageBytes: 4096 })]);
    const text = 'ünïcødé 🙂 日本語 ';
    try {
      for (let n = 0; n < 30; n += 1) {
        proxy.events.emit({ name: 'flow.denied', reason: 'multibyte', details: n === 10 ? { n, pad: '🙂'.repeat(2_000) } : { n, text: text.repeat(n + 1) } });
      }
      const messages = await rsyslog.waitFor(numbered(name), 30);
      for (const [index, message] of messages.entries()) {
        expect(Buffer.byteLength(message.msg)).toBeLessThan(4096);
        expect(message.msg).not.toContain('\uFFFD');
        if (index === 10) {
          expect(message.msg).toMatch(/🙂$/);
          continue;
        }
        const details = (JSON.parse(message.msg) as { chokepoint: { details: { n: number; text: string } } }).chokepoint.details;
        expect(details).toEqual({ n: index, text: text.repeat(index + 1) });
      }
      await log.waitFor((event) => event.event.action === 'sink.error' && event.chokepoint.details?.sink === name);
    } finally {
      await proxy.stop();
    }
  });

  it('refuses a TLS server its CA did not sign, reporting sink.error (once, not per event)', async () => {
    const { proxy, log } = await startSinkProxy(workspace, [
      base('cp-badca', { transport: 'tls', port: rsyslog.tlsPort, caFile: rsyslog.otherCaFile, certFile: rsyslog.clientCertFile, keyFile: rsyslog.clientKeyFile }),
    ]);
    try {
      emitNumbered(proxy, 0, 50);
      const error = await log.waitFor((event) => event.event.action === 'sink.error');
      expect(error.event.reason).toMatch(/cp-badca/);
      expect(log.named('sink.error').length).toBeLessThan(50);
    } finally {
      await proxy.stop();
    }
    expect((await rsyslog.received()).filter(numbered('cp-badca'))).toEqual([]);
  });

  it('drops what does not fit its queue while the server is unreachable, and counts it', async () => {
    const { proxy, log } = await startSinkProxy(workspace, [base('cp-down', { transport: 'tcp', port: rsyslog.tlsPort + 0, host: '127.0.0.2', queueMax: 5 })]);
    try {
      emitNumbered(proxy, 0, 50);
      const dropped = await log.waitFor((event) => event.event.action === 'sink.dropped');
      expect(dropped.chokepoint.details?.dropped_events).toBeGreaterThanOrEqual(45);
    } finally {
      await proxy.stop();
    }
  });
});

/** No rsyslog needed: a TCP "syslog server" that accepts and never reads. */
describe('syslog sink with a server that stops reading', () => {
  let workspace: SinkWorkspace;
  let stuck: Upstream & { sockets: Set<net.Socket> };
  let upstream: Upstream;
  beforeEach(async () => {
    workspace = await sinkWorkspace();
    stuck = await tcpUpstream((socket) => socket.pause());
    upstream = await httpUpstream();
  });
  afterEach(async () => {
    await stuck.close();
    await upstream.close();
    await workspace.remove();
  });

  it('fills its bounded queue and drops (counted) while a curl through the proxy completes', async () => {
    const sink: SinkConfig = { type: 'syslog', name: 'stuck', format: 'ecs', queueMax: 100, transport: 'tcp', host: '127.0.0.1', port: stuck.port, facility: 16, appName: 'stuck', reconnectMs: 100 };
    const { proxy, log, httpUrl } = await startSinkProxy(workspace, [sink]);
    try {
      // Paced, as flows come: the queue keeps up until the kernel's socket buffers are full and the
      // server's silence reaches the sink; from then on the queue fills and events are dropped.
      const pad = 'p'.repeat(8_000);
      const isDrop = (event: { event: { action: string }; chokepoint: { details?: Record<string, unknown> } }): boolean =>
        event.event.action === 'sink.dropped' && event.chokepoint.details?.sink === 'stuck';
      for (let slice = 0; slice < 5_000 && !log.events.some(isDrop); slice += 1) {
        for (let n = 0; n < 20; n += 1) proxy.events.emit({ name: 'flow.denied', reason: 'filler', details: { n, pad } });
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
      const dropped = await log.waitFor(isDrop);
      expect(dropped.chokepoint.details?.dropped_events).toBeGreaterThan(0);
      const result = await curl(['--proxy', httpUrl, `http://127.0.0.1:${upstream.port}/while-stuck`]);
      expect(result.code).toBe(0);
      expect(result.status).toBe(200);
      await log.waitFor((event) => event.event.action === 'flow.closed');
    } finally {
      await proxy.stop();
    }
  });

  it('gives up a connection the server takes nothing on (write_timeout_ms) and delivers on a new one', async () => {
    let reading = false;
    const received: string[] = [];
    const server = await tcpUpstream((socket) => {
      if (!reading) socket.pause();
      else socket.setEncoding('utf8').on('data', (text: string) => received.push(text));
    });
    const sink: SinkConfig = { type: 'syslog', name: 'stalled', format: 'ecs', queueMax: 1_000, transport: 'tcp', host: '127.0.0.1', port: server.port, facility: 16, appName: 'stalled', reconnectMs: 50, writeTimeoutMs: 300 };
    const { proxy, log } = await startSinkProxy(workspace, [sink]);
    try {
      const pad = 'p'.repeat(4_000);
      // Until the kernel's buffers are full and the first connection is given up.
      for (let slice = 0; slice < 20_000 && server.connections < 2; slice += 1) {
        for (let n = 0; n < 20; n += 1) proxy.events.emit({ name: 'flow.denied', reason: 'filler', details: { n, pad } });
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
      reading = true;
      const error = await log.waitFor((event) => event.event.action === 'sink.error' && event.chokepoint.details?.sink === 'stalled');
      expect(error.event.reason).toMatch(/took nothing for 300 ms/);
      // New connections are read: an event sent now arrives.
      const marker = 'after-the-stall-5c2e';
      await new Promise<void>((resolve, reject) => {
        const check = setInterval(() => {
          if (received.join('').includes(marker)) {
            clearInterval(check);
            resolve();
          } else proxy.events.emit({ name: 'flow.denied', reason: marker, details: { n: -1 } });
        }, 200);
        setTimeout(() => {
          clearInterval(check);
          reject(new Error('nothing arrived on a new connection'));
        }, 20_000);
      });
      expect(server.connections).toBeGreaterThanOrEqual(2);
    } finally {
      await proxy.stop();
      await server.close();
    }
  });
});
