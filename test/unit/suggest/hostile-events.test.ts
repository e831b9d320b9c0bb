import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { collect } from '../../../src/suggest/collect.js';
import { ruleLine, suggestRules } from '../../../src/suggest/group.js';
import { readEventLines, type ReadResult } from '../../../src/suggest/read-events.js';

/**
 * An event log is untrusted: nothing in it may crash `chokepoint suggest`, and nothing in it may turn
 * into a rule broader than one valid destination (a CIDR smuggled in `destination.ip`, a special-range
 * address spelt as a name, YAML or diff lines smuggled in a name).
 */

/** A suggested rule line: one valid host or a single-address CIDR, integer ports, nothing else. */
const SAFE_RULE = /^ {2}- \{ (host: ("\*\.)?[a-z0-9_.-]+"?|cidr: [0-9a-f.:]+\/(32|128)), ports: \[\d{1,5}(, \d{1,5})*\] \}  # suggested: [^\n]*$/;

function suggestFrom(lines: string[]): string[] {
  const read: ReadResult = { events: [], badLines: 0 };
  readEventLines(lines.join('\n'), read);
  const out: string[] = [];
  for (const findings of collect(read.events, undefined).values()) {
    for (const rule of suggestRules(findings)) out.push(ruleLine(rule, '  '));
    for (const [key, why] of findings.excluded) out.push(`#   ${key}: ${why}`);
  }
  return out;
}

const denied = (destination: unknown, agent: unknown = 'a'): string =>
  JSON.stringify({ event: { action: 'flow.denied' }, chokepoint: { agent }, rule: { id: 'default-deny' }, destination });

describe('suggest on hostile event logs', () => {
  it('never suggests a CIDR, a special range spelt as a name, or a name that is not one', () => {
    const out = suggestFrom([
      denied({ ip: '0.0.0.0/0 #', port: 443 }),
      denied({ ip: '::/0', port: 443 }),
      denied({ domain: '10.0.0.1', port: 443 }),
      denied({ domain: '0x7f.1', port: 80 }),
      denied({ domain: 'evil.test, ports: [1] }\n+  - { host: "*"', port: 443 }),
      denied({ domain: '*', port: 443 }),
      denied({ domain: 'ok.test', port: 1.5 }),
      denied({ domain: 'ok.test', port: 70000 }),
      denied({ domain: 'ok.test', port: 443 }, '../../etc/passwd'),
      denied({ domain: 'Fine.Test.', port: 443 }),
    ]);
    expect(out.filter((line) => !line.startsWith('#'))).toEqual(['  - { host: fine.test, ports: [443] }  # suggested: 1 flow']);
    expect(out).toContain('#   10.0.0.1:443: special-range address (private)');
    expect(out).toContain('#   127.0.0.1:80: special-range address (loopback)');
  });

  it('survives arbitrary JSON lines and event-shaped lines with arbitrary fields', () => {
    const anyValue = fc.jsonValue();
    const eventShaped = fc
      .record({
        event: fc.oneof(anyValue, fc.record({ action: fc.oneof(anyValue, fc.constantFrom('flow.denied', 'detection.stratum')) })),
        chokepoint: fc.oneof(anyValue, fc.record({ agent: fc.oneof(anyValue, fc.constant('a')), resolved: anyValue, detection: anyValue })),
        rule: fc.oneof(anyValue, fc.record({ id: fc.oneof(anyValue, fc.constant('default-deny')) })),
        destination: fc.oneof(anyValue, fc.record({ domain: fc.oneof(anyValue, fc.domain(), fc.string()), ip: fc.oneof(anyValue, fc.ipV4(), fc.ipV6(), fc.string()), port: fc.oneof(anyValue, fc.integer()) }, { requiredKeys: [] })),
      }, { requiredKeys: [] })
      .map((record) => JSON.stringify(record));
    const line = fc.oneof(eventShaped, anyValue.map((value) => JSON.stringify(value)), fc.string());
    fc.assert(
      fc.property(fc.array(line, { maxLength: 40 }), (lines) => {
        for (const output of suggestFrom(lines)) {
          expect(output).not.toContain('\n');
          if (!output.startsWith('#')) expect(output).toMatch(SAFE_RULE);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('reads a huge line without trouble', () => {
    const huge = denied({ domain: `${'a'.repeat(5_000_000)}.test`, port: 443 });
    expect(suggestFrom([huge, denied({ domain: 'fine.test', port: 443 })])).toEqual(['  - { host: fine.test, ports: [443] }  # suggested: 1 flow']);
  });
});

describe('suggest and detections', () => {
  const detection = (action: string, domain: string, port: number): string =>
    JSON.stringify({ event: { action }, chokepoint: { agent: 'a', detection: { kind: action.slice('detection.'.length) } }, destination: { domain, port } });

  it('a name that raised a detection on one port is suggested on no port', () => {
    const out = suggestFrom([
      detection('detection.stratum', 'pool.test', 3333),
      denied({ domain: 'pool.test', port: 443 }),
      detection('detection.dns_tunnel', 'x1.t.evil.test', 53),
      denied({ domain: 't.evil.test', port: 443 }),
      denied({ domain: 'fine.test', port: 443 }),
    ]);
    expect(out.filter((line) => !line.startsWith('#'))).toEqual(['  - { host: fine.test, ports: [443] }  # suggested: 1 flow']);
    expect(out).toContain('#   pool.test:443: pool.test raised detection.stratum');
  });

  it('a budget alert says nothing about its destination', () => {
    const out = suggestFrom([detection('detection.budget_exceeded', 'fine.test', 443), denied({ domain: 'fine.test', port: 443 })]);
    expect(out).toEqual(['  - { host: fine.test, ports: [443] }  # suggested: 1 flow']);
  });
});

