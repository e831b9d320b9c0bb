import dgram from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DnsService } from '../../../src/dns/dns-service.js';
import { dnsPacket, EDE, extendedErrorsOf, RCODE, rcodeOf } from '../../../src/dns/wire.js';
import { dnsBlackHole, type DnsBlackHole } from '../../helpers/dns-black-hole.js';
import { dnsServiceFor } from '../../helpers/dns-service.js';
import type { EventLog } from '../../helpers/proxy.js';
import { tempRules, type TempRules } from '../../helpers/rules.js';

/**
 * Upstream queries pending at once are bounded per agent and in all: beyond the bounds a query gets
 * SERVFAIL + EDE at once and never leaves, and the refusals are reported as counted dns.overloaded
 * events, not one event per query. The upstream is a real UDP socket that never answers.
 */

const agent = (name: string, source: string): string => `agent: ${name}
identify: { sources: ["${source}/32"] }
allow:
  - { host: "*.slow.test" }
`;

let rules: TempRules;
let hole: DnsBlackHole;
let service: DnsService;
let log: EventLog;

beforeAll(async () => {
  hole = await dnsBlackHole();
  rules = await tempRules('unknown_agent: deny\nrequire_credentials: false\ndeny: []\n', { one: agent('one', '127.0.0.1'), two: agent('two', '127.0.0.2') });
  ({ service, log } = await dnsServiceFor(rules.dir, [{ host: '127.0.0.1', port: hole.port }], { inFlight: { perAgent: 2, total: 3 }, overloadReportMs: 50 }));
});

afterAll(async () => {
  await hole?.close();
  await rules?.remove();
});

const query = (name: string): Buffer =>
  dnsPacket.encode({ type: 'query', id: 7, flags: dnsPacket.RECURSION_DESIRED, questions: [{ name, type: 'A' }], additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 1232, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] }] });

const ask = (name: string, address: string): Promise<Buffer | undefined> => service.answer(query(name), { address, port: 5000, transport: 'udp' });

describe('in-flight limits on upstream queries', () => {
  it('refuses beyond the per-agent and global bounds with SERVFAIL + EDE, and counts the refusals in few events', async () => {
    // Two pending for agent one (its bound), one for agent two (the global bound of three).
    const pending = [ask('p1.slow.test', '127.0.0.1'), ask('p2.slow.test', '127.0.0.1'), ask('p3.slow.test', '127.0.0.2')];
    await hole.waitForQueries(3);

    const refused = await Promise.all(Array.from({ length: 10 }, (_, i) => ask(`r${i}.slow.test`, '127.0.0.1')));
    for (const bytes of refused) {
      const decoded = dnsPacket.decode(bytes ?? Buffer.alloc(0));
      expect(rcodeOf(decoded)).toBe(RCODE.SERVFAIL);
      expect(extendedErrorsOf(decoded)[0]).toMatchObject({ code: EDE.OTHER, text: expect.stringContaining('too many') });
    }
    const other = dnsPacket.decode((await ask('o1.slow.test', '127.0.0.2')) ?? Buffer.alloc(0));
    expect(rcodeOf(other)).toBe(RCODE.SERVFAIL);
    expect(hole.received()).toBe(3); // nothing refused left

    // The first refusal at once, the other nine counted into one event after the interval.
    await log.waitFor((e) => e.event.action === 'dns.overloaded' && e.chokepoint.agent === 'one' && e.chokepoint.details?.['refused'] === 9);
    const overloaded = log.named('dns.overloaded');
    const ones = overloaded.filter((e) => e.chokepoint.agent === 'one');
    expect(ones.map((e) => e.chokepoint.details?.['refused'])).toEqual([1, 9]);
    expect(ones[0]?.chokepoint.details).toMatchObject({ scope: 'agent', limit: 2 });
    expect(overloaded.find((e) => e.chokepoint.agent === 'two')?.chokepoint.details).toMatchObject({ scope: 'total', limit: 3, refused: 1 });
    // No dns.query flood for the refused queries.
    expect(log.named('dns.query').filter((e) => /^[ro]\d/.test(e.dns?.question.name ?? ''))).toEqual([]);

    // Pending queries time out upstream (SERVFAIL, no reachable authority) and free their places.
    for (const bytes of await Promise.all(pending)) expect(rcodeOf(dnsPacket.decode(bytes ?? Buffer.alloc(0)))).toBe(RCODE.SERVFAIL);
    const again = ask('after.slow.test', '127.0.0.1');
    await hole.waitForQueries(4);
    expect(hole.received()).toBe(4);
    await again;
  }, 30_000);
});
