import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DnsService } from '../../../src/dns/dns-service.js';
import { dnsPacket } from '../../../src/dns/wire.js';
import { dnsUpstream, type DnsUpstream } from '../../helpers/dns-upstream.js';
import { dnsServiceFor } from '../../helpers/dns-service.js';
import { tempRules, type TempRules } from '../../helpers/rules.js';

/**
 * Property: whatever bytes reach the DNS service, it never throws and either drops the packet or
 * answers with a well-formed DNS response for the same id (QR set, decodable, within the UDP size the
 * client may receive). Fed both arbitrary bytes and queries built from arbitrary parts (raw label
 * bytes, any type and class, flags, EDNS options), which reach the policy, upstream and encoder paths.
 */

const AGENT = `agent: fuzz-agent
identify: { sources: ["127.0.0.1/32"] }
mode: enforce
allow:
  - { host: fuzz.test }
  - { host: "*.fuzz.test" }
`;

let rules: TempRules;
let upstream: DnsUpstream;
let service: DnsService;

beforeAll(async () => {
  upstream = await dnsUpstream({
    records: [
      { name: 'fuzz.test', type: 'A', ttl: 60, data: '140.82.112.3' },
      { name: 'fuzz.test', type: 'TXT', ttl: 60, data: ['x'.repeat(200), 'y'.repeat(200), 'z'.repeat(200), 'w'.repeat(200)] },
      { name: 'a.fuzz.test', type: 'CNAME', ttl: 60, data: 'fuzz.test' },
    ],
  });
  rules = await tempRules('unknown_agent: deny\nrequire_credentials: false\ndeny: []\n', { 'fuzz-agent': AGENT });
  ({ service } = await dnsServiceFor(rules.dir, [{ host: '127.0.0.1', port: upstream.port }]));
});

afterAll(async () => {
  await upstream?.close();
  await rules?.remove();
});

/** A query assembled by hand, so that labels can hold any byte and counts can lie. */
const builtQuery = fc
  .record({
    id: fc.integer({ min: 0, max: 0xffff }),
    flags: fc.integer({ min: 0, max: 0xffff }).map((flags) => flags & ~0x8000 & ~0x7800),
    labels: fc.array(fc.oneof(fc.uint8Array({ minLength: 0, maxLength: 70 }), fc.constantFrom('fuzz', 'test', 'a', 'FUZZ', '').map((text) => new Uint8Array(Buffer.from(text)))), { maxLength: 6 }),
    suffix: fc.boolean(),
    type: fc.oneof(fc.integer({ min: 0, max: 0xffff }), fc.constantFrom(1, 5, 16, 28, 64, 65, 255, 10, 252)),
    klass: fc.oneof(fc.constant(1), fc.integer({ min: 0, max: 0xffff })),
    counts: fc.tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 3 })),
    opt: fc.option(fc.record({ size: fc.integer({ min: 0, max: 0xffff }), options: fc.uint8Array({ maxLength: 40 }) })),
    tail: fc.uint8Array({ maxLength: 8 }),
  })
  .map((q) => {
    const header = Buffer.alloc(12);
    header.writeUInt16BE(q.id, 0);
    header.writeUInt16BE(q.flags, 2);
    header.writeUInt16BE(q.counts[0] === 0 ? 1 : q.counts[0], 4);
    header.writeUInt16BE(q.counts[1] === 3 ? 1 : 0, 6);
    header.writeUInt16BE(q.counts[2] === 3 ? 1 : 0, 8);
    header.writeUInt16BE(q.opt === null ? 0 : 1, 10);
    const labels = q.suffix ? [...q.labels, Buffer.from('fuzz'), Buffer.from('test')] : q.labels;
    const name = Buffer.concat([...labels.filter((label) => label.length > 0).map((label) => Buffer.concat([Buffer.from([Math.min(label.length, 255)]), Buffer.from(label)])), Buffer.from([0])]);
    const tail = Buffer.alloc(4);
    tail.writeUInt16BE(q.type, 0);
    tail.writeUInt16BE(q.klass, 2);
    let opt = Buffer.alloc(0);
    if (q.opt !== null) {
      opt = Buffer.alloc(11 + q.opt.options.length);
      opt.writeUInt16BE(41, 1);
      opt.writeUInt16BE(q.opt.size, 3);
      opt.writeUInt16BE(q.opt.options.length, 9);
      Buffer.from(q.opt.options).copy(opt, 11);
    }
    return Buffer.concat([header, name, tail, opt, Buffer.from(q.tail)]);
  });

async function expectWellFormed(bytes: Buffer, transport: 'udp' | 'tcp'): Promise<void> {
  const response = await service.answer(bytes, { address: '127.0.0.1', port: 5353, transport });
  if (response === undefined) return;
  const decoded = dnsPacket.decode(response);
  expect(decoded.id).toBe(bytes.readUInt16BE(0));
  expect(decoded.flag_qr).toBe(true);
  if (transport === 'udp') expect(response.length).toBeLessThanOrEqual(1232);
  const question = decoded.questions?.[0];
  if (question !== undefined) expect(() => dnsPacket.encode({ type: 'query', questions: [question] })).not.toThrow();
}

describe('DnsService on arbitrary input', () => {
  it('never throws on arbitrary bytes and answers well-formed or drops', async () => {
    await fc.assert(fc.asyncProperty(fc.uint8Array({ minLength: 0, maxLength: 600 }), fc.constantFrom('udp' as const, 'tcp' as const), async (bytes, transport) => {
      await expectWellFormed(Buffer.from(bytes), transport);
    }), { numRuns: 500 });
  });

  it('never throws on queries built from arbitrary parts and answers well-formed or drops', async () => {
    await fc.assert(fc.asyncProperty(builtQuery, fc.constantFrom('udp' as const, 'tcp' as const), async (bytes, transport) => {
      await expectWellFormed(bytes, transport);
    }), { numRuns: 400 });
  }, 60_000);
});
