/**
 * The file sink through a running proxy: thousands of events, a small size bound so the file rotates
 * many times, and then every sequence number the bus assigned is found exactly once across the
 * rotated files, in order. Daily rotation is driven by an injected clock (no sleeping).
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RotatingFile } from '../../src/sinks/rotating-file.js';
import type { SinkConfig } from '../../src/sinks/sink-config.js';
import { emitNumbered, range, sinkWorkspace, startSinkProxy, type SinkWorkspace } from '../helpers/sinks.js';

let workspace: SinkWorkspace;
beforeEach(async () => {
  workspace = await sinkWorkspace();
});
afterEach(() => workspace.remove());

/** Lines of FILE.<keep> … FILE.1, FILE: oldest first. */
async function readRotated(file: string): Promise<{ files: number; lines: string[] }> {
  const names = await readdir(path.dirname(file));
  const base = path.basename(file);
  const rotated = names
    .filter((name) => name.startsWith(`${base}.`))
    .map((name) => Number(name.slice(base.length + 1)))
    .sort((a, b) => b - a);
  const lines: string[] = [];
  for (const index of [...rotated.map((n) => `${file}.${n}`), file]) {
    const text = await readFile(index, 'utf8');
    expect(text.endsWith('\n') || text === '').toBe(true);
    lines.push(...text.split('\n').filter((line) => line !== ''));
  }
  return { files: rotated.length + 1, lines };
}

describe('file sink', () => {
  it('rotates by size many times without losing, splitting or repeating a line', async () => {
    const file = path.join(workspace.dir, 'logs', 'events.jsonl');
    const sink: SinkConfig = { type: 'file', name: 'file-0', format: 'ecs', queueMax: 100_000, path: file, fsync: 'none', rotate: { maxBytes: 16_384, daily: false, keep: 1_000 } };
    const { proxy } = await startSinkProxy(workspace, [sink]);
    // In bursts, so rotation happens both inside a batch and between batches.
    for (let burst = 0; burst < 20; burst += 1) {
      emitNumbered(proxy, burst * 150, 150);
      await new Promise((resolve) => setImmediate(resolve));
    }
    await proxy.stop();

    const { files, lines } = await readRotated(file);
    expect(files).toBeGreaterThan(5);
    const sequences = lines.map((line) => (JSON.parse(line) as { event: { sequence: number } }).event.sequence);
    // proxy.started (1), 3000 test events, proxy.stopped: every sequence number once, in order.
    expect(sequences).toEqual(range(1, 3002));
    for (const name of await readdir(path.dirname(file))) {
      const size = (await readFile(path.join(path.dirname(file), name))).length;
      expect(size).toBeLessThanOrEqual(16_384);
    }
  });

  it('keeps only `keep` rotated files', async () => {
    const file = path.join(workspace.dir, 'events.jsonl');
    const writer = new RotatingFile(file, { maxBytes: 1024, daily: false, keep: 2 }, false);
    for (let n = 0; n < 100; n += 1) await writer.append([JSON.stringify({ n, pad: 'y'.repeat(50) })]);
    await writer.close();
    expect((await readdir(workspace.dir)).filter((name) => name.startsWith('events.jsonl')).sort()).toEqual(['events.jsonl', 'events.jsonl.1', 'events.jsonl.2']);
    const { lines } = await readRotated(file);
    const numbers = lines.map((line) => (JSON.parse(line) as { n: number }).n);
    // The newest lines survive, consecutive and ending with the last one written.
    expect(numbers).toEqual(range(100 - numbers.length, numbers.length));
  });

  it('starts a new file when the day changes', async () => {
    const file = path.join(workspace.dir, 'daily.jsonl');
    let day = '2026-11-25';
    const writer = new RotatingFile(file, { daily: true, keep: 5 }, true, () => day);
    await writer.append(['{"n":1}', '{"n":2}']);
    day = '2026-11-26';
    await writer.append(['{"n":3}']);
    await writer.append(['{"n":4}']);
    await writer.close();
    expect(await readFile(`${file}.1`, 'utf8')).toBe('{"n":1}\n{"n":2}\n');
    expect(await readFile(file, 'utf8')).toBe('{"n":3}\n{"n":4}\n');
  });

  it('filters by event glob and writes the chosen format', async () => {
    const file = path.join(workspace.dir, 'denied.jsonl');
    const sink: SinkConfig = { type: 'file', name: 'denied', format: 'ocsf', queueMax: 1000, path: file, fsync: 'batch', events: ['flow.*'], excludeEvents: ['flow.closed'] };
    const { proxy } = await startSinkProxy(workspace, [sink]);
    emitNumbered(proxy, 0, 5);
    await proxy.stop();
    const lines = (await readFile(file, 'utf8')).trim().split('\n');
    // OCSF records: Network Activity (4001) with the Chokepoint event name as the event code.
    const records = lines.map((line) => JSON.parse(line) as { class_uid: number; metadata: { event_code: string } });
    expect(records.map((record) => record.metadata.event_code)).toEqual(Array(5).fill('flow.denied'));
    expect(records.every((record) => record.class_uid === 4001)).toBe(true);
  });
});
