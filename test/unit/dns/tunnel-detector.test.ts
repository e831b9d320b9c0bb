import { describe, expect, it } from 'vitest';
import { labelShape, parentDomain, shannonEntropy } from '../../../src/dns/label-shape.js';
import { DnsTunnelDetector, THRESHOLDS, type TunnelFinding } from '../../../src/dns/tunnel-detector.js';
import { dnscat2Name, iodineName, iodineShortName, ORDINARY_NAMES } from '../../fixtures/dns/tunnel-names.js';

const WINDOW = 60_000;

function detector(): DnsTunnelDetector {
  return new DnsTunnelDetector({ windowMs: WINDOW, maxParents: 64, maxNamesPerParent: 512 });
}

/** Feeds names one millisecond apart; returns every finding. */
function feed(d: DnsTunnelDetector, names: readonly string[], type = 'A', agent = 'a', start = 0): TunnelFinding[] {
  const findings: TunnelFinding[] = [];
  names.forEach((name, i) => {
    const finding = d.observe({ agent, name, type, atMs: start + i });
    if (finding) findings.push(finding);
  });
  return findings;
}

describe('label shape', () => {
  it('computes Shannon entropy in bits per character', () => {
    expect(shannonEntropy('')).toBe(0);
    expect(shannonEntropy('aaaa')).toBe(0);
    expect(shannonEntropy('abab')).toBe(1);
    expect(shannonEntropy('0123456789abcdef')).toBe(4);
  });

  it('calls base32 and hex tunnel payloads encoded, words and CDN names not', () => {
    expect(labelShape(iodineName(1, 'x').split('.')[0] ?? '')).toMatchObject({ encoded: true, alphabet: 'base32' });
    expect(labelShape(dnscat2Name(1, 'x').split('.')[0] ?? '')).toMatchObject({ encoded: true, alphabet: 'hex' });
    for (const word of ['objects', 'githubusercontent', 'kubernetes-dashboard-web', 'my-load-balancer-1234567890', 'd1a2b3c4d5e6f7']) {
      expect(labelShape(word).encoded, word).toBe(false);
    }
  });

  it('groups names by their registrable parent', () => {
    expect(parentDomain('a.b.t.example.com')).toBe('example.com');
    expect(parentDomain('x.example.co.uk')).toBe('example.co.uk');
    expect(parentDomain('example.com')).toBe('example.com');
    expect(parentDomain('localhost')).toBe('localhost');
  });
});

describe('DNS tunnel detector', () => {
  it('flags a single iodine query carrying a full payload (medium) at once', () => {
    const findings = feed(detector(), [iodineName(0, 't.tunnel.example')]);
    expect(findings).toHaveLength(1);
    expect(findings[0]).toMatchObject({ parent: 'tunnel.example', confidence: 'medium', first: true });
    expect(findings[0]?.evidence).toMatch(/encoded-looking labels/);
  });

  it('flags a burst of short iodine queries (high) once, then keeps the parent flagged', () => {
    const names = Array.from({ length: 50 }, (_, i) => iodineShortName(i, 't.tunnel.example'));
    const findings = feed(detector(), names);
    expect(findings[0]).toMatchObject({ confidence: 'high', first: true });
    expect(findings.filter((f) => f.first)).toHaveLength(1);
    // Every query from the one that tripped it on is flagged.
    expect(findings).toHaveLength(names.length - (THRESHOLDS.burstNames - 1));
  });

  it('flags dnscat2 over TXT (high) by its channel pattern', () => {
    const names = Array.from({ length: 12 }, (_, i) => dnscat2Name(i, 'c2.example.org', 16));
    const findings = feed(detector(), names, 'TXT');
    expect(findings[0]).toMatchObject({ parent: 'example.org', confidence: 'high' });
    expect(findings[0]?.evidence).toMatch(/TXT\/NULL queries/);
  });

  it('flags a long dnscat2 packet on its own', () => {
    expect(feed(detector(), [dnscat2Name(0, 'c2.example.org', 40)])[0]?.confidence).toBe('medium');
  });

  it('stays quiet for ordinary names, CDN hashes and cloud hostnames, even repeated', () => {
    const d = detector();
    const names = [...ORDINARY_NAMES, ...ORDINARY_NAMES, ...ORDINARY_NAMES];
    expect(feed(d, names, 'A')).toEqual([]);
    expect(feed(d, names, 'AAAA', 'a', 10_000)).toEqual([]);
    expect(feed(d, ORDINARY_NAMES, 'TXT', 'a', 20_000)).toEqual([]);
  });

  it('stays quiet for many ordinary subdomains of one service (under the volume threshold)', () => {
    const names = Array.from({ length: 150 }, (_, i) => `shard-${i}.assets.example-cdn.com`);
    expect(feed(detector(), names)).toEqual([]);
  });

  it('flags sheer volume of unique names under one parent (medium)', () => {
    const names = Array.from({ length: THRESHOLDS.volumeNames }, (_, i) => `n${i}.example-cdn.com`);
    const findings = feed(detector(), names);
    expect(findings[0]).toMatchObject({ confidence: 'medium' });
    expect(findings[0]?.evidence).toMatch(/200 unique names/);
  });

  it('keeps agents apart: one agent\'s queries never flag another', () => {
    const d = detector();
    const names = Array.from({ length: 20 }, (_, i) => iodineShortName(i, 't.tunnel.example'));
    // 20 + 20 would cross the burst threshold for one agent, not for two.
    expect(feed(d, names, 'A', 'one')).toEqual([]);
    expect(feed(d, Array.from({ length: 20 }, (_, i) => iodineShortName(i + 100, 't.tunnel.example')), 'A', 'two')).toEqual([]);
  });

  it('forgets after a quiet window: counts restart and a flagging lapses', () => {
    const d = detector();
    const names = Array.from({ length: 40 }, (_, i) => iodineShortName(i, 't.tunnel.example'));
    expect(feed(d, names).length).toBeGreaterThan(0);
    // Two windows later, with no query in between: one short query is not a tunnel.
    expect(d.observe({ agent: 'a', name: iodineShortName(999, 't.tunnel.example'), type: 'A', atMs: 3 * WINDOW })).toBeUndefined();
  });

  it('bounds its memory: parents beyond maxParents are evicted, names per parent saturate', () => {
    const d = new DnsTunnelDetector({ windowMs: WINDOW, maxParents: 4, maxNamesPerParent: 8 });
    for (let i = 0; i < 1000; i += 1) d.observe({ agent: 'a', name: `x${i}.parent${i % 50}.example`, type: 'A', atMs: i });
    expect(d.trackedParents).toBe(4);
    // 8 names saturate below every threshold: a flood never flags, and never grows the state.
    const flood = Array.from({ length: 500 }, (_, i) => `n${i}.flood.example`);
    expect(feed(new DnsTunnelDetector({ windowMs: WINDOW, maxParents: 4, maxNamesPerParent: 8 }), flood)).toEqual([]);
  });

  it('counts over a sliding window: 28 names at the end of one window and 28 at the start of the next are a burst', () => {
    const d = detector();
    // An ordinary lookup opens the window; the tunnel then times its names around the window's end.
    expect(d.observe({ agent: 'a', name: 'www.tunnel.example', type: 'A', atMs: 0 })).toBeUndefined();
    const names = Array.from({ length: 56 }, (_, i) => iodineShortName(i, 't.tunnel.example'));
    const findings = names.flatMap((name, i) => d.observe({ agent: 'a', name, type: 'A', atMs: i < 28 ? WINDOW - 28 + i : WINDOW + (i - 28) }) ?? []);
    expect(findings[0]).toMatchObject({ confidence: 'high', first: true, parent: 'tunnel.example' });
  });

  it('flags a slow drip that stays under every window threshold, sustained for minutes', () => {
    const d = detector();
    // 20 unique encoded names a minute (one every 3 s) for 30 minutes: never 30 within a window.
    const findings: TunnelFinding[] = [];
    for (let i = 0; i < 600; i += 1) {
      const finding = d.observe({ agent: 'a', name: iodineShortName(i, 't.drip.example'), type: 'A', atMs: i * 3_000 });
      if (finding) findings.push(finding);
    }
    expect(findings[0]).toMatchObject({ confidence: 'medium', first: true, evidence: expect.stringContaining('slow drip') });
  });

  it('leaves a sparse stream of encoded-looking names alone for hours (5 a minute under one parent)', () => {
    const d = detector();
    const findings: TunnelFinding[] = [];
    for (let i = 0; i < 600; i += 1) {
      const finding = d.observe({ agent: 'a', name: iodineShortName(i, 'cdn.hashes.example'), type: 'A', atMs: i * 12_000 });
      if (finding) findings.push(finding);
      for (const name of ORDINARY_NAMES) if (d.observe({ agent: 'a', name, type: 'A', atMs: i * 12_000 })) findings.push({ parent: name, confidence: 'medium', evidence: name, first: true });
    }
    expect(findings).toEqual([]);
  });
});
