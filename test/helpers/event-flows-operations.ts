import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import net from 'node:net';
import type { ChokepointConfig } from '../../src/config/chokepoint-config.js';
import type { WebhookConfig } from '../../src/config/quarantine-config.js';
import type { HttpSinkConfig } from '../../src/sinks/sink-config.js';
import { iodineShortName } from '../fixtures/dns/tunnel-names.js';
import { adminCall } from './admin.js';
import { curl } from './curl.js';
import { dig } from './dns-upstream.js';
import { nextEvent } from './event-waits.js';
import type { TestProxy } from './proxy.js';
import { connectTunnel, echoRoundTrip, readToEnd } from './raw-clients.js';

/**
 * The operator- and SOC-facing paths of the event-flow driver (event-flows.ts), each with real traffic:
 * the DNS listener (an allowed query, a malformed packet, a tunnel burst), the admin API (a marker, a
 * flow killed), a budget spent, quarantine webhooks delivered and failed, an HTTP sink whose collector is
 * down, and SSH interception that cannot reach its upstream (no key).
 */

/** A TCP port on loopback that nothing listens on (bound, then closed): connections are refused at once. */
export async function closedTcpPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export function webhook(url: string, retries: number): WebhookConfig {
  return { url, headers: {}, timeoutMs: 5_000, on: ['quarantined', 'released'], retries, backoffMs: 20 };
}

/** An HTTP sink towards a collector that is down (a closed port): it spools and reports `sink.error`. */
export function downHttpSink(port: number): HttpSinkConfig {
  return {
    type: 'http',
    name: 'down-collector',
    format: 'ecs',
    queueMax: 10_000,
    url: `http://127.0.0.1:${port}/events`,
    style: 'json',
    sourcetype: 'chokepoint',
    headers: {},
    headersFromEnv: {},
    batch: { maxEvents: 50, maxBytes: 1_048_576, intervalMs: 20 },
    retry: { initialMs: 50, maxMs: 200 },
    timeoutMs: 2_000,
    spool: { maxBytes: 8 * 1024 * 1024, segmentBytes: 64 * 1024 },
  };
}

/** A SHA-256 fingerprint in ssh-keygen's form; the SSH flow below fails before it is compared. */
export function someHostKeyFingerprint(): string {
  return `SHA256:${randomBytes(32).toString('base64').replace(/=+$/, '')}`;
}

export function enableOperations(config: ChokepointConfig, parts: { dnsUpstreamPort: number; adminToken: string; webhookUrl: string; closedPort: number; certsDir: string }): void {
  config.listen.dns = { host: '127.0.0.1', port: 0 };
  config.dns.upstreams = [{ host: '127.0.0.1', port: parts.dnsUpstreamPort }];
  config.listen.admin = { host: '127.0.0.1', port: 0 };
  config.admin = { token: parts.adminToken };
  config.quarantine.webhooks = [webhook(parts.webhookUrl, 1), webhook(`http://127.0.0.1:${parts.closedPort}/hook`, 0)];
  config.sinks = [downHttpSink(parts.closedPort)];
  config.certsDir = parts.certsDir;
}

/** DNS through the listener with real `dig`: an answered query, then an iodine-style burst until detected. */
export async function dnsQueries(proxy: TestProxy, name: string, tunnelDomain: string): Promise<void> {
  const port = proxy.proxy.dns?.port ?? 0;
  const answered = nextEvent(proxy.log, (event) => event.event.action === 'dns.query' && event.dns?.question.name === name);
  await dig(port, [name, 'A']);
  await answered;
  // A packet that is not DNS: answered FORMERR (or dropped) and reported without a name.
  await sendUdp(port, Buffer.from('not a dns message at all'));
  const detected = nextEvent(proxy.log, (event) => event.event.action === 'detection.dns_tunnel');
  const burst = Array.from({ length: 40 }, (_, i) => [iodineShortName(i, tunnelDomain), 'TXT']).flat();
  await dig(port, burst);
  await detected;
}

function sendUdp(port: number, message: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket('udp4');
    socket.send(message, port, '127.0.0.1', (error) => {
      socket.close();
      if (error) reject(error);
      else resolve();
    });
  });
}

/** A training-step marker set through the admin API, then a live tunnel listed and killed there. */
export async function adminOperations(proxy: TestProxy, token: string, agent: string, tunnelTarget: string): Promise<void> {
  const adminPort = proxy.proxy.admin?.port ?? 0;
  const marked = nextEvent(proxy.log, (event) => event.event.action === 'marker.set');
  const posted = await adminCall(adminPort, 'POST', '/v1/markers', { token, body: { agent, run: 'r2', step: 7 } });
  if (posted.status !== 200) throw new Error(`marker refused: ${posted.status} ${posted.text}`);
  await marked;

  const tunnel = await connectTunnel(proxy.proxy.http?.port ?? 0, tunnelTarget);
  await echoRoundTrip(tunnel.socket, 'kill me\n');
  const ended = readToEnd(tunnel.socket);
  const listed = await adminCall(adminPort, 'GET', `/v1/flows?agent=${agent}`, { token });
  const flows = (listed.json?.flows ?? []) as Array<{ id: string }>;
  const id = flows[0]?.id;
  if (id === undefined) throw new Error(`no live flow listed: ${listed.text}`);
  const closed = nextEvent(proxy.log, (event) => event.event.action === 'flow.closed' && event.chokepoint.flow_id === id);
  const killed = await adminCall(adminPort, 'DELETE', `/v1/flows/${id}`, { token, body: { reason: 'schema check' } });
  if (killed.status !== 200) throw new Error(`kill refused: ${killed.status} ${killed.text}`);
  await ended;
  await closed;
}

/** Two destinations from an agent whose budget allows one new destination: the second is over budget. */
export async function spendBudget(proxy: TestProxy, source: string, urls: string[]): Promise<void> {
  const exceeded = nextEvent(proxy.log, (event) => event.event.action === 'detection.budget_exceeded');
  for (const url of urls) await curl(['--interface', source, '-x', proxy.httpUrl, url]);
  await exceeded;
}

/** An SSH client banner into an intercepted destination whose upstream key is missing: the interception fails. */
export async function failedSshInterception(proxy: TestProxy, source: string, target: string): Promise<void> {
  const failed = nextEvent(proxy.log, (event) => event.event.action === 'ssh.upstream_failed');
  const ssh = await connectTunnel(proxy.proxy.http?.port ?? 0, target, { localAddress: source });
  const ended = readToEnd(ssh.socket);
  ssh.socket.write('SSH-2.0-OpenSSH_9.6\r\n');
  await failed;
  await ended;
}
