import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseOptions } from '../../../bench/options.js';
import { renderReport, writeReport, type ReportInput } from '../../../bench/report.js';
import { ResultSet } from '../../../bench/results.js';

function input(results: ResultSet, overrides: Partial<ReportInput> = {}): ReportInput {
  const parsed = parseOptions(['--quick']);
  if (parsed.kind !== 'run') throw new Error('options');
  return {
    date: new Date('2026-01-02T03:04:05.000Z'),
    durationS: 61,
    machine: {
      cpuModel: 'Test CPU',
      cores: 2,
      memoryGiB: 4,
      kernel: 'Linux 6',
      node: 'v20.0.0',
      squid: 'Squid Cache: Version 5.7',
      loadAverageAtStart: 0.1,
    },
    httpTool: 'wrk 4.1.0',
    fdLimit: 65536,
    settings: parsed.settings,
    idleTunnels: 1000,
    results,
    memory: [],
    policy: { status: 'missing' },
    classifyCost: [],
    notes: [],
    ...overrides,
  };
}

function row(report: string, title: string): string[] {
  const line = report.split('\n').find((text) => text.startsWith(`| ${title}`)) ?? '';
  return line.split('|').slice(1, -1).map((cell) => cell.trim());
}

describe('renderReport', () => {
  it('shows medians and the three ratios', () => {
    const results = new ResultSet();
    for (const [target, values] of [['direct', [900, 1000, 1100]], ['squid', [500]], ['chokepoint', [700, 800]]] as const) {
      for (const value of values) results.record('tunnelThroughput', target, { value });
    }
    const cells = row(renderReport(input(results)), 'CONNECT tunnel throughput');
    expect(cells.slice(1)).toEqual(['1,000', '500', '750', '0.75×', '1.50×', '0.50×']);
  });

  it('marks memory as n/a for direct and compares proxies only', () => {
    const results = new ResultSet();
    results.record('idleTunnelMemory', 'squid', { value: 30 });
    results.record('idleTunnelMemory', 'chokepoint', { value: 15 });
    const cells = row(renderReport(input(results)), 'Memory per idle tunnel');
    expect(cells.slice(1)).toEqual(['n/a', '30.0', '15.0', '—', '0.50×', '—']);
  });

  it('shows pass and fail against the targets, and lists problems with their counts', () => {
    const results = new ResultSet();
    results.record('tunnelThroughput', 'direct', { value: 1000 });
    results.record('tunnelThroughput', 'chokepoint', { value: 600 });
    results.recordFailure('httpRequests', 'chokepoint', new Error('proxy died'));
    results.recordFailure('httpRequests', 'chokepoint', new Error('proxy died'));
    const report = renderReport(input(results, { notes: ['squid not measured: no apt'] }));
    const goal = 'Tunnel throughput ≥ 0.7 × direct';
    expect(row(report, goal)).toEqual([goal, '0.60× direct', '❌ fail']);
    expect(report).toContain('- squid not measured: no apt');
    expect(report).toContain('- chokepoint, HTTP keep-alive requests: measurement failed: proxy died (×2)');
  });

  it('reports a missing policy benchmark as skipped', () => {
    expect(renderReport(input(new ResultSet()))).toContain('bench/policy-decide.ts is not there yet: skipped.');
  });
});

describe('writeReport', () => {
  it('keeps the sections other bench scripts own, and replaces the rest', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'chokepoint-report-'));
    try {
      const file = path.join(dir, 'RESULTS.md');
      const owned = '<!-- reverse-tunnel:start -->\n## Reverse-tunnel detection\n\n- rate 18/18\n<!-- reverse-tunnel:end -->';
      await writeFile(file, `# old report\n\nstale numbers\n\n${owned}\n`);
      await writeReport(file, input(new ResultSet()));
      const text = await readFile(file, 'utf8');
      expect(text).not.toContain('stale numbers');
      expect(text).toContain(renderReport(input(new ResultSet())).trimEnd());
      expect(text.endsWith(`${owned}\n`)).toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
