import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ChokepointEvent } from '../../src/events/types.js';
import { runCli } from './cli.js';
import { curl } from './curl.js';
import { dnsUpstream } from './dns-upstream.js';
import { adminToken } from './admin.js';
import { nextEvent } from './event-waits.js';
import { adminOperations, closedTcpPort, dnsQueries, enableOperations, failedSshInterception, someHostKeyFingerprint, spendBudget } from './event-flows-operations.js';
import { startTestProxy } from './proxy.js';
import { connectTunnel, echoRoundTrip, readToEnd, socks5Connect } from './raw-clients.js';
import { DENY_UNKNOWN_POLICY, tempRules } from './rules.js';
import { echoUpstream, httpUpstream, tcpUpstream } from './upstreams.js';
import { webhookReceiver } from './webhook-receiver.js';

/**
 * Drives a real proxy through every path that emits events — allowed, alerted and denied flows on
 * each entry (HTTP, CONNECT, SOCKS5), a relayed tunnel, bad credentials, a protocol detection, a mining detection that
 * quarantines its agent and its release (told to a webhook that answers and to one that is down), an accepted and
 * a rejected reload, heartbeats, DNS queries through the DNS listener (answered, malformed, a tunnel burst), a marker
 * and a flow kill through the admin API, a budget spent, an HTTP sink whose collector is down, SSH interception
 * without its upstream key, stop — and returns every event it emitted, in order. For tests that check the shape of real events (schema, OCSF mapping).
 */

const XMRIG_LOGIN =
  '{"id":1,"jsonrpc":"2.0","method":"login","params":{"login":"44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A",' +
  '"pass":"x","agent":"XMRig/6.21.0 (Linux x86_64) libuv/1.44.2 gcc/12.2.0","algo":["rx/0"]}}\n';

export async function eventsOfEveryPath(): Promise<ChokepointEvent[]> {
  const [app, echo, pool, resolver, receiver] = await Promise.all([
    httpUpstream(),
    echoUpstream(),
    tcpUpstream(() => {}),
    dnsUpstream({ records: [{ name: 'web.test', type: 'A', ttl: 60, data: '127.0.0.1' }] }),
    webhookReceiver(),
  ]);
  // After the others: a port bound and released while they bind could be the one the DNS upstream wants for TCP.
  const closedPort = await closedTcpPort();
  const ports = `[${app.port}, ${echo.port}, ${pool.port}]`;
  const token = adminToken();
  const rules = await tempRules(DENY_UNKNOWN_POLICY, {
    local: `agent: local\nidentify: { sources: ["127.0.0.1/32"] }\nallow:\n  - { cidr: 127.0.0.1/32, ports: ${ports} }\n  - { host: app.test, ports: ${ports} }\n  - { host: web.test, ports: [443] }\n  - { host: "*.tunnel.test", ports: [443] }\n`,
    watched: `agent: watched\nidentify: { sources: ["127.0.0.3/32"] }\nalert:\n  - { cidr: 127.0.0.1/32, ports: ${ports} }\n`,
    spender: `agent: spender\nidentify: { sources: ["127.0.0.4/32"] }\nallow:\n  - { host: app.test, ports: ${ports} }\n  - { cidr: 127.0.0.1/32, ports: ${ports} }\nbudgets:\n  new_destinations: { limit: 1, window: 10m, action: alert }\n`,
    shell: `agent: shell\nidentify: { sources: ["127.0.0.5/32"] }\nallow:\n  - host: git.test\n    ports: [${echo.port}]\n    intercept: ssh\n    ssh: { user: root, key: ssh/missing, host_key_sha256: "${someHostKeyFingerprint()}" }\n  - { cidr: 127.0.0.1/32, ports: [${echo.port}] }\n`,
    miner: `agent: miner\nidentify: { sources: ["127.0.0.2/32"] }\nallow:\n  - { host: pool.test, ports: ${ports} }\n  - { cidr: 127.0.0.1/32, ports: ${ports} }\n`,
  });
  const stateDir = await mkdtemp(path.join(tmpdir(), 'chokepoint-state-'));
  const proxy = await startTestProxy(rules.dir, (config) => {
    config.stateDir = stateDir;
    config.hosts.set('app.test', ['127.0.0.1']);
    config.hosts.set('pool.test', ['127.0.0.1']);
    config.hosts.set('git.test', ['127.0.0.1']);
    config.events.heartbeatSeconds = 0.25;
    enableOperations(config, { dnsUpstreamPort: resolver.port, adminToken: token, webhookUrl: receiver.url, closedPort, certsDir: path.join(stateDir, 'certs') });
  });
  const httpPort = proxy.proxy.http?.port ?? 0;
  try {
    // Plain HTTP, allowed and closed; alerted (another source); denied by default; bad credentials.
    await curl(['-x', proxy.httpUrl, `http://app.test:${app.port}/`, '-H', 'Chokepoint-Tags: run=r1, episode=4']);
    await curl(['--interface', '127.0.0.3', '-x', proxy.httpUrl, `http://127.0.0.1:${app.port}/`]);
    await curl(['-x', proxy.httpUrl, 'http://denied.example/']);
    await curl(['-x', `http://nobody:wrong@127.0.0.1:${httpPort}`, `http://app.test:${app.port}/`]);

    // SOCKS5: denied by default.
    (await socks5Connect(proxy.socksPort, 'denied.example', 443)).socket.destroy();

    // CONNECT tunnel relaying bytes both ways, then closed by the agent.
    const tunnel = await connectTunnel(httpPort, `127.0.0.1:${echo.port}`);
    const relayed = nextEvent(proxy.log, (event) => event.event.action === 'flow.closed' && (event.source?.bytes ?? 0) > 0);
    await echoRoundTrip(tunnel.socket, 'hello through the tunnel\n');
    tunnel.socket.end();
    await relayed;

    // CONNECT tunnel speaking SSH where no rule allows it: a detection, the flow denied and closed.
    const ssh = await connectTunnel(httpPort, `127.0.0.1:${echo.port}`);
    const sshEnded = readToEnd(ssh.socket);
    ssh.socket.write('SSH-2.0-OpenSSH_9.6\r\n');
    await sshEnded;

    // Operations: DNS, the admin API, a budget, SSH interception without its upstream key.
    await dnsQueries(proxy, 'web.test', 't.tunnel.test');
    await adminOperations(proxy, token, 'local', `127.0.0.1:${echo.port}`);
    await spendBudget(proxy, '127.0.0.4', [`http://app.test:${app.port}/`, `http://127.0.0.1:${app.port}/`]);
    await failedSshInterception(proxy, '127.0.0.5', `git.test:${echo.port}`);

    // Mining: the XMRig login quarantines the agent; one webhook is told, the other is down.
    const quarantined = nextEvent(proxy.log, (event) => event.event.action === 'agent.quarantined');
    const delivered = nextEvent(proxy.log, (event) => event.event.action === 'quarantine.webhook_delivered');
    const undelivered = nextEvent(proxy.log, (event) => event.event.action === 'quarantine.webhook_failed');
    const miner = await connectTunnel(httpPort, `pool.test:${pool.port}`, { localAddress: '127.0.0.2' });
    const minerEnded = readToEnd(miner.socket);
    miner.socket.write(XMRIG_LOGIN);
    await minerEnded;
    await Promise.all([quarantined, delivered, undelivered]);
    // Refused while quarantined; then released by an operator with the real CLI (its own process, on
    // the state directory) and the proxy told to reload.
    await curl(['--interface', '127.0.0.2', '-x', proxy.httpUrl, `http://pool.test:${pool.port}/`]);
    const released = await runCli(['quarantine', 'release', 'miner', '--state', stateDir]);
    if (released.code !== 0) throw new Error(`chokepoint quarantine release failed: ${released.stderr}`);

    // Reloads: accepted, then rejected (a broken agent file), then accepted again.
    await proxy.proxy.reload('test');
    await rules.writeAgent('broken', 'agent: broken\nallow: [{ host: 12 }]\nnot_a_key: 1\n');
    await proxy.proxy.reload('test');
    await rm(path.join(rules.dir, 'agents', 'broken.yaml'));

    await nextEvent(proxy.log, (event) => event.event.action === 'proxy.heartbeat');
    // The HTTP sink's collector was down all along: its failure is an event of its own.
    await proxy.log.waitFor((event) => event.event.action === 'sink.error');
  } catch (error) {
    // Which step stalled is read from what was emitted up to it.
    const seen = proxy.log.events.map((event) => `${event.event.action}${event.rule ? ` (${event.rule.id})` : ''}`).join(', ');
    throw new Error(`${error instanceof Error ? error.message : String(error)}; events so far: ${seen}`);
  } finally {
    await proxy.stop();
    await Promise.all([app.close(), echo.close(), pool.close(), resolver.close(), receiver.close()]);
    await rules.remove();
    await rm(stateDir, { recursive: true, force: true });
  }
  return proxy.log.events;
}
