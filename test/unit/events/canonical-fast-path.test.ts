import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { EventBus } from '../../../src/events/bus.js';
import { canonicalJson } from '../../../src/events/canonical-json.js';
import type { ChokepointEvent } from '../../../src/events/types.js';

/**
 * canonicalJson takes JSON.stringify when keys are already sorted (src/events/canonical-json.ts); these
 * tests hold both paths to the same text as an independent reference, and the bus to sorted events.
 */

/** Reference: the value with every object's keys sorted by UTF-16 code units, then JSON.stringify. */
function reference(value: unknown): string {
  const sortDeep = (member: unknown): unknown => {
    if (Array.isArray(member)) return member.map(sortDeep);
    if (member === null || typeof member !== 'object') return member;
    const sorted: Record<string, unknown> = {};
    for (const key of Object.keys(member).sort()) sorted[key] = sortDeep((member as Record<string, unknown>)[key]);
    return sorted;
  };
  // A plain object holds integer-like keys in numeric order whatever the insertion order: write by hand.
  const write = (member: unknown): string => {
    if (Array.isArray(member)) return `[${member.map((item) => (item === undefined ? 'null' : write(item))).join(',')}]`;
    if (member === null || typeof member !== 'object') return JSON.stringify(member) ?? 'null';
    const record = member as Record<string, unknown>;
    const parts = Object.keys(record)
      .sort()
      .filter((key) => record[key] !== undefined)
      .map((key) => `${JSON.stringify(key)}:${write(record[key])}`);
    return `{${parts.join(',')}}`;
  };
  return write(sortDeep(value));
}

describe('canonicalJson, sorted or not', () => {
  it('writes what the reference writes, for any JSON value, in its own key order and sorted', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        expect(canonicalJson(value)).toBe(reference(value));
        expect(canonicalJson(JSON.parse(reference(value)))).toBe(reference(value));
      }),
    );
  });

  it('sorts integer-like keys as text, which JavaScript would list first in numeric order', () => {
    expect(canonicalJson({ 10: 'a', 9: 'b', a: 1 })).toBe('{"10":"a","9":"b","a":1}');
    expect(canonicalJson({ a: { 2: 1, 10: 2 } })).toBe('{"a":{"10":2,"2":1}}');
  });

  it('never lets JSON.stringify call toJSON or see class instances', () => {
    const withToJson = { a: 1, toJSON: () => 'replaced' };
    expect(canonicalJson(withToJson)).toBe('{"a":1}');
    expect(canonicalJson({ when: new Date(0) })).toBe('{"when":{}}');
    expect(canonicalJson({ a: [1, undefined, 2] })).toBe('{"a":[1,null,2]}');
    expect(canonicalJson(undefined)).toBe('null');
  });
});

describe('events from the bus', () => {
  it('are shaped with sorted keys at every level, chain included, so their canonical JSON is JSON.stringify', () => {
    const bus = new EventBus();
    const events: ChokepointEvent[] = [];
    bus.subscribe((event) => events.push(event));
    bus.emit({ name: 'proxy.started', kind: 'state', details: { http: '127.0.0.1:1', inspect: true } });
    bus.emit({
      name: 'flow.closed',
      kind: 'event',
      outcome: 'success',
      reason: 'closed',
      durationNs: 12,
      flowId: 'f1',
      agent: 'a',
      agentMode: 'enforce',
      entry: 'connect',
      action: 'allow',
      enforced: false,
      ruleId: 'r1',
      tags: { run: 'r1', step: '2' },
      source: { bytes: 1, ip: '127.0.0.1', port: 1000 },
      destination: { bytes: 2, domain: 'example.com', ip: '127.0.0.2', port: 443 },
      resolved: ['127.0.0.2'],
      url: { full: 'http://example.com/', method: 'GET', status: 200 },
      error: { code: 'E', message: 'm' },
      protocol: 'tls',
      transport: 'tcp',
    });
    for (const event of events) {
      expect(JSON.stringify(event)).toBe(canonicalJson(event));
      expect(JSON.stringify(event)).toBe(reference(event));
    }
  });
});
