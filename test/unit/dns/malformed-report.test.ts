import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DnsService } from '../../../src/dns/dns-service.js';
import { dnsPacket } from '../../../src/dns/wire.js';
import { dnsServiceFor } from '../../helpers/dns-service.js';
import type { EventLog } from '../../helpers/proxy.js';
import { tempRules, type TempRules } from '../../helpers/rules.js';

/**
 * Garbage from sources that are not agents (spoofable, as plentiful as the sender likes) is counted into
 * dns.malformed events — the first at once, the rest once per interval — instead of one dns.query event
 * per packet; an agent's own malformed query stays one event each.
 */

const AGENT = `agent: tidy
identify: { sources: ["127.0.0.1/32"] }
allow:
  - { host: tidy.test }
`;

let rules: TempRules;
let service: DnsService;
let log: EventLog;

beforeAll(async () => {
  rules = await tempRules('unknown_agent: deny\nrequire_credentials: false\ndeny: []\n', { tidy: AGENT });
  ({ service, log } = await dnsServiceFor(rules.dir, [], { overloadReportMs: 50 }));
});

afterAll(() => rules?.remove());

const response = dnsPacket.encode({ type: 'response', id: 3, questions: [{ name: 'x.test', type: 'A' }] });
const formerr = Buffer.from('12340100000100000000000003', 'hex');

describe('malformed packets', () => {
  it('counts garbage from non-agents into dns.malformed events, and keeps one event per malformed query of an agent', async () => {
    for (let i = 0; i < 30; i += 1) {
      await service.answer(i % 3 === 0 ? Buffer.alloc(5) : i % 3 === 1 ? response : formerr, { address: '127.0.0.9', port: 4000 + i, transport: 'udp' });
    }
    await log.waitFor((e) => e.event.action === 'dns.malformed' && e.chokepoint.details?.['packets'] === 29);
    expect(log.named('dns.malformed').map((e) => e.chokepoint.details?.['packets'])).toEqual([1, 29]);
    expect(log.named('dns.query')).toEqual([]);

    await service.answer(formerr, { address: '127.0.0.1', port: 5000, transport: 'udp' });
    const own = log.named('dns.query');
    expect(own).toHaveLength(1);
    expect(own[0]?.rule?.id).toBe('dns.malformed');
  });
});
