import { describe, expect, it } from 'vitest';
import { filterAnswer, type FilterInput } from '../../../src/dns/answer-filter.js';
import type { DnsRecord } from '../../../src/dns/wire.js';
import { buildSnapshot } from '../../../src/pipeline/build-snapshot.js';
import type { DnsPolicyView } from '../../../src/pipeline/policy-snapshot.js';
import { agentPolicy, rule, ruleSet } from '../policy/policy-fixtures.js';

function view(): DnsPolicyView {
  const agent = agentPolicy('coder-7', [rule('allow', 'api.example.com', '443'), rule('allow', '10.20.0.0/16', '443'), rule('deny', '*.tunnel.example', '*', { reason: 'tunnels' })]);
  const built = buildSnapshot(ruleSet([agent], [rule('deny', '*.onion', '*')]));
  if (!built.ok) throw new Error(built.errors.join('; '));
  return built.snapshot.dnsView(agent);
}

function input(answers: DnsRecord[], extra: Partial<FilterInput> = {}): FilterInput {
  return { host: 'api.example.com', type: 'A', answers, authorities: [], view: view(), ports: [443], maxTtlSeconds: 300, ...extra };
}

describe('filterAnswer', () => {
  it('keeps public addresses with TTLs capped and reports the smallest', () => {
    const out = filterAnswer(input([
      { type: 'A', name: 'api.example.com', ttl: 3600, data: '140.82.112.3' },
      { type: 'A', name: 'api.example.com', ttl: 120, data: '140.82.112.4' },
    ]));
    expect(out).toMatchObject({ kind: 'answer', addresses: ['140.82.112.3', '140.82.112.4'], addressTtl: 120, dropped: [] });
    if (out.kind === 'answer') expect(out.answers.map((record) => ('ttl' in record ? record.ttl : -1))).toEqual([300, 120]);
    const six = filterAnswer(input([{ type: 'AAAA', name: 'api.example.com', ttl: 120, data: '2606:50c0:8000:0:0:0:0:153' }], { type: 'AAAA' }));
    expect(six).toMatchObject({ kind: 'answer', addresses: ['2606:50c0:8000::153'] });
  });

  it('drops special-range and uncovered private addresses, keeps covered ones', () => {
    const out = filterAnswer(input([
      { type: 'A', name: 'api.example.com', ttl: 60, data: '169.254.169.254' },
      { type: 'A', name: 'api.example.com', ttl: 60, data: '10.20.1.1' },
      { type: 'A', name: 'api.example.com', ttl: 60, data: '10.99.1.1' },
    ]));
    expect(out.kind === 'answer' && out.addresses).toEqual(['10.20.1.1']);
    expect(out.kind === 'answer' && out.dropped.map((d) => [d.address, d.decision.rule])).toEqual([['169.254.169.254', 'ssrf.metadata'], ['10.99.1.1', 'ssrf.private']]);
  });

  it('follows CNAMEs, drops out-of-chain records and RRSIGs', () => {
    const out = filterAnswer(input([
      { type: 'CNAME', name: 'API.example.com', ttl: 60, data: 'edge.cdn.example.net' },
      { type: 'A', name: 'edge.cdn.example.net', ttl: 60, data: '140.82.112.9' },
      { type: 'A', name: 'unrelated.example.org', ttl: 60, data: '140.82.112.10' },
      { type: 'TXT', name: 'api.example.com', ttl: 60, data: ['side data'] },
    ]));
    expect(out).toMatchObject({ kind: 'answer', chain: ['api.example.com', 'edge.cdn.example.net'], addresses: ['140.82.112.9'] });
    expect(out.kind === 'answer' && out.answers.map((record) => record.type)).toEqual(['CNAME', 'A']);
  });

  it('keeps only the type asked for: addresses added to a TXT answer are not handed out', () => {
    const out = filterAnswer(input([
      { type: 'TXT', name: 'api.example.com', ttl: 60, data: ['v=spf1 -all'] },
      { type: 'A', name: 'api.example.com', ttl: 60, data: '140.82.112.3' },
      { type: 'AAAA', name: 'api.example.com', ttl: 60, data: '2606:50c0:8000::153' },
    ], { type: 'TXT' }));
    expect(out).toMatchObject({ kind: 'answer', addresses: [] });
    expect(out.kind === 'answer' && out.answers.map((record) => record.type)).toEqual(['TXT']);
  });

  it('refuses the whole answer when a chain name is denied, globally or by the agent', () => {
    expect(filterAnswer(input([{ type: 'CNAME', name: 'api.example.com', ttl: 60, data: 'x.tunnel.example' }, { type: 'A', name: 'x.tunnel.example', ttl: 60, data: '140.82.112.1' }]))).toMatchObject({ kind: 'chain-denied', name: 'x.tunnel.example', decision: { reason: 'tunnels' } });
    expect(filterAnswer(input([{ type: 'CNAME', name: 'api.example.com', ttl: 60, data: 'a.b.onion' }]))).toMatchObject({ kind: 'chain-denied', name: 'a.b.onion' });
  });

  it('survives CNAME loops', () => {
    const out = filterAnswer(input([
      { type: 'CNAME', name: 'api.example.com', ttl: 60, data: 'b.example.net' },
      { type: 'CNAME', name: 'b.example.net', ttl: 60, data: 'api.example.com' },
    ]));
    expect(out).toMatchObject({ kind: 'answer', chain: ['api.example.com', 'b.example.net'], addresses: [] });
  });

  it('in audit mode reports what enforce would refuse but hands everything out', () => {
    const out = filterAnswer(input([
      { type: 'CNAME', name: 'api.example.com', ttl: 60, data: 'x.tunnel.example' },
      { type: 'A', name: 'x.tunnel.example', ttl: 60, data: '127.0.0.1' },
    ], { keepRefused: true }));
    expect(out).toMatchObject({ kind: 'answer', addresses: ['127.0.0.1'], chainDenial: { reason: 'tunnels' } });
    expect(out.kind === 'answer' && out.dropped[0]?.decision.rule).toBe('ssrf.loopback');
  });

  it('keeps only SOA records of the authority section', () => {
    const out = filterAnswer(input([], {
      authorities: [
        { type: 'SOA', name: 'example.com', ttl: 9000, data: { mname: 'ns.example.com', rname: 'h.example.com', serial: 1, refresh: 1, retry: 1, expire: 1, minimum: 60 } },
        { type: 'NS', name: 'example.com', ttl: 60, data: 'ns.attacker.example' },
      ],
    }));
    expect(out.kind === 'answer' && out.authorities.map((record) => [record.type, 'ttl' in record ? record.ttl : -1])).toEqual([['SOA', 300]]);
  });
});
