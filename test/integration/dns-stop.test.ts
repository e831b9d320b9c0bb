import dgram from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dnsPacket } from '../../src/dns/wire.js';
import { dnsBlackHole, type DnsBlackHole } from '../helpers/dns-black-hole.js';
import { startTestProxy } from '../helpers/proxy.js';
import { tempRules, type TempRules } from '../helpers/rules.js';

/**
 * A stop with DNS queries still waiting for an upstream that never answers: they end with the stop (a
 * SERVFAIL dns.query event before proxy.stopped), their sockets and timers closed — not after the
 * upstream timeout, when the sinks are closed and the process would have been kept alive by them.
 */

const AGENT = 'agent: asker\nidentify: { sources: ["127.0.0.1/32"] }\nallow:\n  - { host: "*.pending.test", ports: [443] }\n';

async function udpSockets(): Promise<number> {
  // libuv drops a closed handle from the active list in its close-callbacks phase: let a few turns pass.
  for (let turn = 0; turn < 3; turn++) await new Promise((resolve) => setImmediate(resolve));
  return process.getActiveResourcesInfo().filter((kind) => kind === 'UDPWrap').length;
}

describe('stop with DNS queries pending upstream', () => {
  let hole: DnsBlackHole;
  let rules: TempRules;

  beforeAll(async () => {
    hole = await dnsBlackHole();
    rules = await tempRules('unknown_agent: deny\nrequire_credentials: false\ndeny: []\n', { asker: AGENT });
  });
  afterAll(async () => {
    await hole.close();
    await rules.remove();
  });

  it('ends them: SERVFAIL events before proxy.stopped, no upstream socket left open', async () => {
    const before = await udpSockets();
    const proxy = await startTestProxy(rules.dir, (config) => {
      config.listen.dns = { host: '127.0.0.1', port: 0 };
      config.dns.upstreams = [{ host: '127.0.0.1', port: hole.port }];
      // Far longer than the test: only the stop can end these queries.
      config.dns.timeoutMs = 600_000;
    });
    const client = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => client.bind(0, '127.0.0.1', resolve));
    for (const [index, name] of ['a.pending.test', 'b.pending.test'].entries()) {
      client.send(dnsPacket.encode({ type: 'query', id: index + 1, flags: dnsPacket.RECURSION_DESIRED, questions: [{ name, type: 'A', class: 'IN' }] }), proxy.proxy.dns?.port ?? 0, '127.0.0.1');
    }
    await hole.waitForQueries(2);
    await proxy.stop();
    await new Promise<void>((resolve) => client.close(() => resolve()));

    const actions = proxy.log.events.map((event) => event.event.action);
    expect(actions.at(-1)).toBe('proxy.stopped');
    const answered = proxy.log.named('dns.query').map((event) => event.dns?.question.name);
    expect(answered.sort()).toEqual(['a.pending.test', 'b.pending.test']);
    expect(await udpSockets()).toBe(before);
  });
});
