import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ChokepointEvent } from '../../src/events/types.js';
import { QuarantineStore } from '../../src/quarantine/store.js';
import { curl } from './curl.js';
import { nextEvent } from './event-waits.js';
import { startTestProxy } from './proxy.js';
import { connectTunnel, echoRoundTrip, readToEnd, socks5Connect } from './raw-clients.js';
import { DENY_UNKNOWN_POLICY, tempRules } from './rules.js';
import { echoUpstream, httpUpstream, tcpUpstream } from './upstreams.js';

/**
 * Drives a real proxy through every path that emits events — allowed, alerted and denied flows on
 * each entry (HTTP, CONNECT, SOCKS5), a relayed tunnel, bad credentials, a protocol detection, a mining detection that
 * quarantines its agent and its release, an accepted and a rejected reload, heartbeats, stop — and returns every
 * event it emitted, in order. For tests that check the shape of real events (schema, OCSF mapping).
 */

const XMRIG_LOGIN =
  '{"id":1,"jsonrpc":"2.0","method":"login","params":{"login":"44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A",' +
  '"pass":"x","agent":"XMRig/6.21.0 (Linux x86_64) libuv/1.44.2 gcc/12.2.0","algo":["rx/0"]}}\n';

export async function eventsOfEveryPath(): Promise<ChokepointEvent[]> {
  const [app, echo, pool] = await Promise.all([httpUpstream(), echoUpstream(), tcpUpstream(() => {})]);
  const ports = `[${app.port}, ${echo.port}, ${pool.port}]`;
  const rules = await tempRules(DENY_UNKNOWN_POLICY, {
    local: `agent: local\nidentify: { sources: ["127.0.0.1/32"] }\nallow:\n  - { cidr: 127.0.0.1/32, ports: ${ports} }\n  - { host: app.test, ports: ${ports} }\n`,
    watched: `agent: watched\nidentify: { sources: ["127.0.0.3/32"] }\nalert:\n  - { cidr: 127.0.0.1/32, ports: ${ports} }\n`,
    miner: `agent: miner\nidentify: { sources: ["127.0.0.2/32"] }\nallow:\n  - { host: pool.test, ports: ${ports} }\n  - { cidr: 127.0.0.1/32, ports: ${ports} }\n`,
  });
  const stateDir = await mkdtemp(path.join(tmpdir(), 'chokepoint-state-'));
  const proxy = await startTestProxy(rules.dir, (config) => {
    config.stateDir = stateDir;
    config.hosts.set('app.test', ['127.0.0.1']);
    config.hosts.set('pool.test', ['127.0.0.1']);
    config.events.heartbeatSeconds = 0.25;
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

    // Mining: the XMRig login quarantines the agent.
    const quarantined = nextEvent(proxy.log, (event) => event.event.action === 'agent.quarantined');
    const miner = await connectTunnel(httpPort, `pool.test:${pool.port}`, { localAddress: '127.0.0.2' });
    const minerEnded = readToEnd(miner.socket);
    miner.socket.write(XMRIG_LOGIN);
    await minerEnded;
    await quarantined;
    // Refused while quarantined; then released by an operator (as `chokepoint quarantine release`
    // does, on the state directory) and the proxy told to reload.
    await curl(['--interface', '127.0.0.2', '-x', proxy.httpUrl, `http://pool.test:${pool.port}/`]);
    await (await QuarantineStore.openIn(stateDir)).release('miner');

    // Reloads: accepted, then rejected (a broken agent file), then accepted again.
    await proxy.proxy.reload('test');
    await rules.writeAgent('broken', 'agent: broken\nallow: [{ host: 12 }]\nnot_a_key: 1\n');
    await proxy.proxy.reload('test');
    await rm(path.join(rules.dir, 'agents', 'broken.yaml'));

    await nextEvent(proxy.log, (event) => event.event.action === 'proxy.heartbeat');
  } catch (error) {
    // Which step stalled is read from what was emitted up to it.
    const seen = proxy.log.events.map((event) => `${event.event.action}${event.rule ? ` (${event.rule.id})` : ''}`).join(', ');
    throw new Error(`${error instanceof Error ? error.message : String(error)}; events so far: ${seen}`);
  } finally {
    await proxy.stop();
    await Promise.all([app.close(), echo.close(), pool.close()]);
    await rules.remove();
    await rm(stateDir, { recursive: true, force: true });
  }
  return proxy.log.events;
}
