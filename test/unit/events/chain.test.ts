import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { EventBus } from '../../../src/events/bus.js';
import { canonicalJson } from '../../../src/events/canonical-json.js';
import { eventJson, expectedHash, HashChain } from '../../../src/events/chain.js';
import { LogVerifier, type VerifyReport } from '../../../src/events/log-verifier.js';
import type { ChokepointEvent } from '../../../src/events/types.js';

/** Reverses key order at every level: the same value written by another serialiser. */
function reorder(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(reorder);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(Object.entries(value).reverse().map(([key, member]) => [key, reorder(member)]));
}

function busEvents(count: number): ChokepointEvent[] {
  const bus = new EventBus();
  const events: ChokepointEvent[] = [];
  bus.subscribe((event) => events.push(event));
  bus.emit({ name: 'proxy.started', kind: 'state', details: { http: '127.0.0.1:1', socks: null, rules: '/r', inspect: true, agents: [] } });
  for (let index = 1; index < count - 1; index++) bus.emit({ name: 'flow.allowed', agent: 'a', flowId: `f${index}`, source: { ip: '127.0.0.1', port: 1000 + index }, destination: { domain: 'example.com', port: 443 }, tags: { run: 'r1', 'é': 'ü' } });
  bus.emit({ name: 'proxy.stopped', kind: 'state' });
  return events;
}

function verifyLines(lines: string[]): VerifyReport {
  const verifier = new LogVerifier();
  lines.forEach((line, index) => verifier.push(line, { file: 'log', line: index + 1 }));
  return verifier.finish();
}

describe('canonicalJson', () => {
  it('is the same text whatever the key order, and parses back to the same value', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const text = canonicalJson(value);
        expect(canonicalJson(reorder(value))).toBe(text);
        expect(canonicalJson(JSON.parse(text))).toBe(text);
      }),
    );
  });

  it('sorts keys by UTF-16 code units and writes no whitespace', () => {
    expect(canonicalJson({ b: 1, a: [true, null, 'x'], A: { z: 1.5, y: undefined } })).toBe('{"A":{"z":1.5},"a":[true,null,"x"],"b":1}');
  });
});

describe('HashChain', () => {
  it('starts from the nonce, links every event to the one before, and hashes what the event says', () => {
    const chain = new HashChain('ab'.repeat(32));
    const first = { '@timestamp': 't', ecs: { version: '8.11.0' }, event: { action: 'proxy.started', sequence: 1, kind: 'state', severity: 1 }, chokepoint: { schema_version: '1.0.0', severity_label: 'informational' } } as ChokepointEvent;
    const second = structuredClone(first);
    second.event.sequence = 2;
    chain.link(first);
    chain.link(second);
    expect(first.chokepoint.chain).toMatchObject({ prev: 'ab'.repeat(32), start: true });
    expect(second.chokepoint.chain?.prev).toBe(first.chokepoint.chain?.hash);
    expect(second.chokepoint.chain?.start).toBeUndefined();
    expect(expectedHash(first as unknown as Record<string, unknown>)).toBe(first.chokepoint.chain?.hash);
  });

  it('ignores members a sink adds and the key order a SIEM chose, and notices any change', () => {
    for (const event of busEvents(4)) {
      const line = JSON.parse(JSON.stringify({ 'log.level': 'info', 'host.name': 'x', ...event })) as Record<string, unknown>;
      expect(expectedHash(reorder(line) as Record<string, unknown>)).toBe(event.chokepoint.chain?.hash);
      const edited = structuredClone(line);
      (edited['event'] as Record<string, unknown>)['sequence'] = 99;
      expect(expectedHash(edited)).not.toBe(event.chokepoint.chain?.hash);
    }
  });

  it('hashes only event members, so a member another part adds to the event never looks like an edit', () => {
    const chain = new HashChain();
    const event = busEvents(3)[1] as ChokepointEvent;
    const fresh = { ...structuredClone(event), observer: { name: 'gw-1' } } as ChokepointEvent;
    Reflect.deleteProperty(fresh.chokepoint, 'chain');
    chain.link(fresh);
    expect(expectedHash(fresh as unknown as Record<string, unknown>)).toBe(fresh.chokepoint.chain?.hash);
    expect(JSON.parse(eventJson(fresh))).toHaveProperty('observer');
  });

  it('is off when asked (for the benchmark), and events still have everything else', () => {
    const bus = new EventBus({ chain: false });
    const event = bus.emit({ name: 'proxy.stopped' });
    expect(event.chokepoint.chain).toBeUndefined();
    expect(event.ecs.version).toBe('8.11.0');
  });
});

describe('LogVerifier', () => {
  const lines = busEvents(8).map((event) => JSON.stringify(event));

  it('accepts an intact log and a restart', () => {
    expect(verifyLines(lines).problems).toEqual([]);
    const restart = verifyLines([...lines, ...busEvents(3).map((event) => JSON.stringify(event))]);
    expect(restart.problems).toEqual([]);
    expect(restart.chains).toBe(2);
  });

  it('reports a run of deleted events once, with the range', () => {
    const report = verifyLines([...lines.slice(0, 2), ...lines.slice(5)]);
    expect(report.problems.map((problem) => `${problem.at.line}: ${problem.message}`)).toEqual(['3: seq 3-5 (3 events) are missing between log:2 and here (deleted events)']);
  });

  it('reports a line moved far back as reordering, and the chain around it intact', () => {
    const moved = [...lines.slice(0, 2), ...lines.slice(3, 6), lines[2] as string, ...lines.slice(6)];
    const report = verifyLines(moved);
    expect(report.problems).toHaveLength(1);
    expect(report.problems[0]?.message).toMatch(/seq 3 is out of order: it belongs between log:2 and log:3/);
  });

  it('reports a line that is not an event, and one without a chain', () => {
    const stripped = JSON.parse(lines[3] as string) as ChokepointEvent;
    delete stripped.chokepoint.chain;
    const report = verifyLines([...lines.slice(0, 3), '{"msg":"hello"}', JSON.stringify(stripped), ...lines.slice(4)]);
    expect(report.problems.map((problem) => problem.message)).toEqual([
      'not an event (no event object)',
      'event seq 4 (flow.allowed) has no chokepoint.chain {prev, hash} (two SHA-256 hex digests): written without the chain, stripped or mangled',
    ]);
  });
});

describe('eventJson', () => {
  it('is the canonical JSON of the chained event, hash included, without serialising it again', () => {
    for (const event of busEvents(5)) {
      expect(eventJson(event)).toBe(canonicalJson(event));
      expect(JSON.parse(eventJson(event))).toEqual(JSON.parse(JSON.stringify(event)));
    }
  });
});

describe('canonicalJson strings', () => {
  it('writes every string exactly as JSON.stringify does (escapes, non-ASCII, lone surrogates)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (text) => {
        expect(canonicalJson(text)).toBe(JSON.stringify(text));
      }),
    );
    for (const text of ['plain', 'quote " and \\ backslash', 'tab\tnew\nline', '\u0000\u001f\u007f', 'é ü 漢', '\ud800 lone', '']) {
      expect(canonicalJson(text)).toBe(JSON.stringify(text));
      expect(canonicalJson({ [text]: text })).toBe(JSON.stringify({ [text]: text }));
    }
  });
});
