import { describe, expect, it } from 'vitest';
import { dnsPacket, EDE, encodeEdeOption, encodeResponse, extendedErrorsOf, parseQuery, RCODE, rcodeOf } from '../../../src/dns/wire.js';

function query(questions: dnsPacket.Question[], edns = true, id = 0x1234): Buffer {
  return dnsPacket.encode({
    type: 'query',
    id,
    flags: dnsPacket.RECURSION_DESIRED,
    questions,
    additionals: edns ? [{ type: 'OPT', name: '.', udpPayloadSize: 4096, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] }] : [],
  });
}

describe('parseQuery', () => {
  it('reads the question, RD and the EDNS payload size', () => {
    const parsed = parseQuery(query([{ name: 'GitHub.com', type: 'AAAA', class: 'IN' }]));
    expect(parsed).toEqual({ ok: true, query: { id: 0x1234, recursionDesired: true, checkingDisabled: false, question: { name: 'GitHub.com', type: 'AAAA', class: 'IN' }, ednsUdpSize: 4096 } });
    const classic = parseQuery(query([{ name: 'a.example', type: 'A' }], false));
    expect(classic.ok && classic.query.ednsUdpSize).toBeUndefined();
  });

  it('drops what must not be answered: short packets and responses', () => {
    expect(parseQuery(Buffer.alloc(5))).toMatchObject({ ok: false, answer: undefined });
    const response = dnsPacket.encode({ type: 'response', id: 1, questions: [{ name: 'x.example', type: 'A' }] });
    expect(parseQuery(response)).toMatchObject({ ok: false, answer: undefined, reason: 'a response, not a query' });
  });

  it('answers FORMERR for truncated or multi-question queries, NOTIMP for other opcodes, REFUSED for other classes', () => {
    const whole = query([{ name: 'example.com', type: 'A' }]);
    expect(parseQuery(whole.subarray(0, whole.length - 15))).toMatchObject({ ok: false, answer: { id: 0x1234, rcode: RCODE.FORMERR } });
    expect(parseQuery(query([{ name: 'a.example', type: 'A' }, { name: 'b.example', type: 'A' }]))).toMatchObject({ ok: false, answer: { rcode: RCODE.FORMERR } });
    expect(parseQuery(query([]))).toMatchObject({ ok: false, answer: { rcode: RCODE.FORMERR } });
    const notify = Buffer.from(whole);
    notify.writeUInt16BE((4 << 11) | 0x0100, 2); // opcode NOTIFY
    expect(parseQuery(notify)).toMatchObject({ ok: false, answer: { rcode: RCODE.NOTIMP } });
    expect(parseQuery(query([{ name: 'version.bind', type: 'TXT', class: 'CH' }]))).toMatchObject({ ok: false, answer: { rcode: RCODE.REFUSED } });
  });

  it('never throws on random bytes', () => {
    for (let seed = 0; seed < 2000; seed += 1) {
      const bytes = Buffer.alloc(12 + (seed % 60));
      for (let i = 0; i < bytes.length; i += 1) bytes[i] = (seed * 31 + i * 17 + ((seed >> 3) ^ i)) & 0xff;
      expect(() => parseQuery(bytes)).not.toThrow();
    }
  });
});

describe('encodeResponse', () => {
  const question = { name: 'Example.com', type: 'A', class: 'IN' };

  it('carries an Extended DNS Error (RFC 8914) in its OPT record', () => {
    const bytes = encodeResponse({ id: 7, recursionDesired: true, question, rcode: RCODE.NXDOMAIN, edns: true, ede: { code: EDE.BLOCKED, text: 'no rule allows example.com' } });
    const decoded = dnsPacket.decode(bytes);
    expect(decoded.id).toBe(7);
    expect(decoded.flag_qr).toBe(true);
    expect(decoded.flag_rd).toBe(true);
    expect(decoded.flag_ra).toBe(true);
    expect(rcodeOf(decoded)).toBe(RCODE.NXDOMAIN);
    expect(decoded.questions?.[0]?.name).toBe('Example.com');
    expect(extendedErrorsOf(decoded)).toEqual([{ code: 15, text: 'no rule allows example.com' }]);
  });

  it('has no OPT record when the client sent none', () => {
    const decoded = dnsPacket.decode(encodeResponse({ id: 7, recursionDesired: false, question, rcode: RCODE.REFUSED, edns: false, ede: { code: 18, text: 'x' } }));
    expect(decoded.additionals).toEqual([]);
  });

  it('truncates a UDP answer over the limit: TC set, records left out, the EDE kept', () => {
    const answers: dnsPacket.Answer[] = Array.from({ length: 60 }, (_, i) => ({ type: 'A', name: 'example.com', ttl: 60, data: `140.82.${i}.1` }));
    const bytes = encodeResponse({ id: 1, recursionDesired: true, question, rcode: RCODE.NOERROR, answers, edns: true, ede: { code: 15, text: 'withheld 10.0.0.1' } }, 512);
    expect(bytes.length).toBeLessThanOrEqual(512);
    const decoded = dnsPacket.decode(bytes);
    expect(decoded.flag_tc).toBe(true);
    expect(decoded.answers).toEqual([]);
    expect(extendedErrorsOf(decoded)[0]?.text).toBe('withheld 10.0.0.1');
    expect(dnsPacket.decode(encodeResponse({ id: 1, recursionDesired: true, question, rcode: 0, answers, edns: true })).answers).toHaveLength(60);
  });

  it('caps the EDE text so that it fits a UDP answer', () => {
    const option = encodeEdeOption({ code: 15, text: 'x'.repeat(5000) });
    expect(option.length).toBeLessThanOrEqual(6 + 400);
    expect(option.subarray(option.length - 3).toString()).toBe('...');
  });
});

describe('parseQuery refuses names that dns-packet would read as another name', () => {
  const raw = (labels: Buffer[]): Buffer =>
    Buffer.concat([Buffer.from([0, 9, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]), ...labels.map((label) => Buffer.concat([Buffer.from([label.length]), label])), Buffer.from([0, 0, 1, 0, 1])]);

  it('a label holding a dot, non-UTF-8 bytes, or a pointer into the header is FORMERR, not a different name', () => {
    expect(parseQuery(raw([Buffer.from('a.b'), Buffer.from('example')]))).toMatchObject({ ok: false, answer: { rcode: RCODE.FORMERR } });
    expect(parseQuery(raw([Buffer.from('.'), Buffer.from('example')]))).toMatchObject({ ok: false, answer: { rcode: RCODE.FORMERR } });
    expect(parseQuery(raw([Buffer.from([0xff, 0xfe]), Buffer.from('example')]))).toMatchObject({ ok: false, answer: { rcode: RCODE.FORMERR } });
    const pointer = Buffer.from([0, 9, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 0x00, 0, 1, 0, 1]);
    expect(parseQuery(pointer)).toMatchObject({ ok: false });
    expect(parseQuery(raw([Buffer.from('Example'), Buffer.from('com')]))).toMatchObject({ ok: true, query: { question: { name: 'Example.com' } } });
    expect(parseQuery(raw([Buffer.from('bücher'), Buffer.from('example')]))).toMatchObject({ ok: true, query: { question: { name: 'bücher.example' } } });
  });
});
