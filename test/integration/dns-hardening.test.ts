import dgram from 'node:dgram';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { frame, readFrames } from '../../src/dns/tcp-framing.js';
import { MAX_QUERIES_PER_CONNECTION } from '../../src/listeners/dns-tcp-connection.js';
import { dnsPacket, RCODE, rcodeOf } from '../../src/dns/wire.js';
import { dnsBlackHole, type DnsBlackHole } from '../helpers/dns-black-hole.js';
import { dig } from '../helpers/dns-upstream.js';
import { startTestProxy, type TestProxy } from '../helpers/proxy.js';
import { tempRules, type TempRules } from '../helpers/rules.js';

/**
 * The DNS listener under hostile clients, over real sockets and with real dig: the upstream is a UDP
 * resolver that never answers, so forwarded queries stay pending.
 *
 * The idle timeout (timeouts.header_ms) is long here on purpose: a test that passes only because a
 * connection was closed for idleness would pass without the bound it is about; every wait below ends
 * on the bound itself.
 */

const AGENT = `agent: hardened
identify: { sources: ["127.0.0.1/32"] }
allow:
  - { host: "*.slow.test" }
`;

let rules: TempRules;
let hole: DnsBlackHole;
let proxy: TestProxy;
let dnsPort: number;

beforeAll(async () => {
  hole = await dnsBlackHole();
  rules = await tempRules('unknown_agent: deny\nrequire_credentials: false\ndeny: []\n', { hardened: AGENT });
  proxy = await startTestProxy(rules.dir, (config) => {
    config.listen.dns = { host: '127.0.0.1', port: 0 };
    config.dns.upstreams = [{ host: '127.0.0.1', port: hole.port }];
    config.dns.timeoutMs = 3_000;
    config.dns.maxInFlightPerAgent = 1;
    config.timeouts.headerMs = 120_000;
  });
  dnsPort = proxy.proxy.dns?.port ?? 0;
});

afterAll(async () => {
  await proxy?.stop();
  await hole?.close();
  await rules?.remove();
});

const query = (name: string, id = 1): Buffer => dnsPacket.encode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ name, type: 'A' }] });

function connect(): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port: dnsPort }, () => resolve(socket));
    socket.once('error', reject);
  });
}

const closed = (socket: net.Socket): Promise<void> => new Promise((resolve) => (socket.closed ? resolve() : socket.once('close', () => resolve())));

describe('DNS listener bounds', () => {
  it('answers SERVFAIL + EDE to dig once the agent has its limit of queries pending upstream, and never forwards it', async () => {
    const client = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => client.bind(0, '127.0.0.1', resolve));
    client.send(query('pending.slow.test'), dnsPort, '127.0.0.1');
    await hole.waitForQueries(1);
    const out = await dig(dnsPort, ['over.slow.test', 'A']);
    expect(out).toContain('status: SERVFAIL');
    expect(out).toMatch(/EDE: 0 \(Other\).*too many/);
    expect(hole.received()).toBe(1);
    const event = await proxy.log.waitFor((e) => e.event.action === 'dns.overloaded');
    expect(event.chokepoint.details).toMatchObject({ refused: 1, scope: 'agent', limit: 1 });
    client.close();
  });

  it('closes a TCP connection at once on a length prefix larger than any query', async () => {
    const socket = await connect();
    socket.write(Buffer.from([0xff, 0xff, 0, 1, 1, 0]));
    await closed(socket);
    expect(socket.bytesRead).toBe(0);
  });

  it('closes a TCP connection that drips bytes of a query without ever completing one', async () => {
    const idleProxy = await startTestProxy(rules.dir, (config) => {
      config.listen.dns = { host: '127.0.0.1', port: 0 };
      config.dns.upstreams = [{ host: '127.0.0.1', port: hole.port }];
      config.timeouts.headerMs = 500;
    });
    try {
      const socket = await new Promise<net.Socket>((resolve, reject) => {
        const s = net.connect({ host: '127.0.0.1', port: idleProxy.proxy.dns?.port ?? 0 }, () => resolve(s));
        s.once('error', reject);
      });
      socket.on('error', () => {});
      // A 4000-byte message announced, then one byte every 20 ms: far more often than the idle timeout.
      socket.write(Buffer.from([0x0f, 0xa0]));
      let dripped = 0;
      const drip = setInterval(() => {
        if (!socket.destroyed) socket.write(Buffer.from([0x41]));
        dripped += 1;
      }, 20);
      await closed(socket);
      clearInterval(drip);
      expect(dripped).toBeLessThan(4000);
    } finally {
      await idleProxy.stop();
    }
  });

  it(`ends a TCP connection after ${MAX_QUERIES_PER_CONNECTION} pipelined queries, having answered each of them`, async () => {
    const socket = await connect();
    const answers: number[] = [];
    readFrames(socket, 65535, (message) => answers.push(rcodeOf(dnsPacket.decode(Buffer.from(message)))));
    // Denied names: answered at once (NXDOMAIN), nothing pending upstream.
    const batch = Array.from({ length: MAX_QUERIES_PER_CONNECTION + 50 }, (_, i) => frame(query(`q${i}.denied.test`, i)));
    socket.write(Buffer.concat(batch));
    socket.on('error', () => {});
    await closed(socket);
    expect(answers.length).toBe(MAX_QUERIES_PER_CONNECTION);
    expect(answers.every((rcode) => rcode === RCODE.NXDOMAIN)).toBe(true);
  }, 60_000);

  it('answers an unidentified UDP client with no more bytes than it sent (TC set), and in full over TCP', async () => {
    const udp = await dig(dnsPort, ['-b', '127.0.0.9', '+ignore', '+qr', 'www.slow.test', 'TXT']);
    const sent = Number(/QUERY SIZE: (\d+)/.exec(udp)?.[1]);
    const received = Number(/MSG SIZE\s+rcvd: (\d+)/.exec(udp)?.[1]);
    expect(udp).toContain('status: REFUSED');
    expect(udp).toMatch(/flags: qr tc/);
    expect(received).toBeLessThanOrEqual(sent);
    const tcp = await dig(dnsPort, ['-b', '127.0.0.9', 'www.slow.test', 'TXT']);
    expect(tcp).toMatch(/EDE: 18 \(Prohibited\)/);
  });
});
