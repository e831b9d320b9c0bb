import { describe, expect, it } from 'vitest';
import { collect } from '../../../src/suggest/collect.js';
import { suggestRules } from '../../../src/suggest/group.js';
import { readEventLines, type ReadResult } from '../../../src/suggest/read-events.js';
import { allowDiff } from '../../../src/suggest/yaml-diff.js';

const items = (indent: string): string[] => [`${indent}- { host: new.test, ports: [443] }`];

describe('allowDiff', () => {
  it('turns `allow: []` into a block', () => {
    expect(allowDiff('a.yaml', 'a', 'agent: a\nallow: []\ndeny: []\n', items)).toBe(`--- a.yaml
+++ a.yaml
@@ -1,3 +1,4 @@
 agent: a
-allow: []
+allow:
+  - { host: new.test, ports: [443] }
 deny: []`);
  });

  it('keeps inline items when rewriting an inline list', () => {
    expect(allowDiff('a.yaml', 'a', 'agent: a\nallow: [{ host: x.test, ports: [80, 443] }]\n', items)).toContain(
      '+allow:\n+  - { host: x.test, ports: [80, 443] }\n+  - { host: new.test, ports: [443] }',
    );
  });

  it('adds an allow block to a file without one, follows the items\' indentation, creates a missing file', () => {
    expect(allowDiff('a.yaml', 'a', 'agent: a\n', items)).toBe('--- a.yaml\n+++ a.yaml\n@@ -1,1 +1,3 @@\n agent: a\n+allow:\n+  - { host: new.test, ports: [443] }');
    expect(allowDiff('a.yaml', 'a', 'agent: a\nallow:\n    - { host: x.test }\ndeny:\n', items)).toContain('     - { host: x.test }\n+    - { host: new.test, ports: [443] }\n deny:');
    expect(allowDiff('a.yaml', 'a', undefined, items)).toBe('--- /dev/null\n+++ a.yaml\n@@ -0,0 +1,3 @@\n+agent: a\n+allow:\n+  - { host: new.test, ports: [443] }');
  });
});

describe('suggest grouping', () => {
  const denied = (domain: string, port = 443): string =>
    JSON.stringify({ 'log.level': 'info', event: { action: 'flow.denied' }, chokepoint: { agent: 'a', resolved: ['1.2.3.4'] }, rule: { id: 'default-deny' }, destination: { domain, port } });

  it('groups three or more siblings under *.parent, never a top-level domain, and counts bad lines', () => {
    const read: ReadResult = { events: [], badLines: 0 };
    readEventLines([denied('a.x.test'), denied('b.x.test'), denied('c.x.test', 80), denied('one.test'), denied('two.test'), denied('three.test'), '{bad', '[1]'].join('\n'), read);
    expect(read.badLines).toBe(2);
    const rules = suggestRules(collect(read.events, undefined).get('a') ?? { agent: 'a', candidates: new Map(), excluded: new Map() });
    expect(rules.map((rule) => [rule.host, rule.ports])).toEqual([
      ['*.x.test', [80, 443]],
      ['one.test', [443]],
      ['three.test', [443]],
      ['two.test', [443]],
    ]);
  });

  it('never suggests an IP literal in a special range', () => {
    const read: ReadResult = { events: [], badLines: 0 };
    const literal = (ip: string): string => JSON.stringify({ event: { action: 'flow.denied' }, chokepoint: { agent: 'a' }, rule: { id: 'default-deny' }, destination: { ip, port: 443 } });
    readEventLines([literal('10.1.2.3'), literal('93.184.216.34')].join('\n'), read);
    const findings = collect(read.events, undefined).get('a');
    expect(findings?.excluded.get('10.1.2.3:443')).toBe('special-range address (private)');
    expect(suggestRules(findings ?? { agent: 'a', candidates: new Map(), excluded: new Map() }).map((rule) => rule.cidr)).toEqual(['93.184.216.34/32']);
  });
});
