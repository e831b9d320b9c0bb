import { appendFile, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Spool, type SpoolOptions } from '../../../src/sinks/spool.js';

let dir: string;
let overflows: Array<{ lines: number; bytes: number }>;

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'chokepoint-spool-'));
  overflows = [];
});
afterEach(() => rm(dir, { recursive: true, force: true }));

const options = (over: Partial<SpoolOptions> = {}): SpoolOptions => ({
  maxBytes: 1 << 20,
  segmentBytes: 4096,
  onOverflow: (dropped) => overflows.push(dropped),
  ...over,
});

const line = (n: number): string => JSON.stringify({ n, pad: 'x'.repeat(40) });
const numbers = (lines: string[]): number[] => lines.map((text) => (JSON.parse(text) as { n: number }).n);

/** Reads, acknowledges and returns everything in the spool, batch by batch. */
async function drain(spool: Spool, batch = 7): Promise<number[]> {
  const seen: number[] = [];
  for (;;) {
    const read = await spool.read(batch, 1 << 20);
    if (read.lines.length === 0) return seen;
    seen.push(...numbers(read.lines));
    await spool.acknowledge(read.end);
  }
}

describe('Spool', () => {
  it('gives lines back in order across many segments, each once', async () => {
    const spool = await Spool.open(dir, options());
    for (let n = 0; n < 500; n += 10) await spool.append(Array.from({ length: 10 }, (_, i) => line(n + i)));
    expect(spool.pendingLines).toBe(500);
    expect(await drain(spool)).toEqual(Array.from({ length: 500 }, (_, n) => n));
    expect(spool.pendingLines).toBe(0);
    // Fully acknowledged segments are deleted; only the one being written may remain.
    expect((await readdir(dir)).filter((name) => name.startsWith('seg-')).length).toBeLessThanOrEqual(1);
    await spool.close();
  });

  it('reads an unacknowledged batch again, and resumes at the acknowledgement after a reopen', async () => {
    let spool = await Spool.open(dir, options());
    await spool.append(Array.from({ length: 300 }, (_, n) => line(n)));
    const first = await spool.read(100, 1 << 20);
    await spool.acknowledge(first.end);
    const unacknowledged = await spool.read(50, 1 << 20);
    expect(numbers(unacknowledged.lines)[0]).toBe(100);
    // Not acknowledged: the same lines come again.
    expect(numbers((await spool.read(50, 1 << 20)).lines)).toEqual(numbers(unacknowledged.lines));
    await spool.close();

    spool = await Spool.open(dir, options());
    expect(spool.pendingLines).toBe(200);
    await spool.append([line(300)]);
    expect(await drain(spool)).toEqual(Array.from({ length: 201 }, (_, n) => n + 100));
    await spool.close();
  });

  it('cuts a line torn by a crash and keeps the complete ones', async () => {
    const spool = await Spool.open(dir, options());
    await spool.append([line(1), line(2)]);
    await spool.close();
    const [segment] = (await readdir(dir)).filter((name) => name.startsWith('seg-'));
    await appendFile(path.join(dir, segment ?? ''), '{"n":3,"pad":"tor');
    const reopened = await Spool.open(dir, options());
    await reopened.append([line(4)]);
    expect(await drain(reopened)).toEqual([1, 2, 4]);
    await reopened.close();
  });

  it('drops the oldest undelivered lines at the bound and counts every one of them', async () => {
    const spool = await Spool.open(dir, options({ maxBytes: 8192, segmentBytes: 1024 }));
    const total = 1000;
    for (let n = 0; n < total; n += 1) await spool.append([line(n)]);
    expect(spool.totalBytes).toBeLessThanOrEqual(8192);
    const kept = await drain(spool);
    const dropped = overflows.reduce((sum, drop) => sum + drop.lines, 0);
    expect(dropped).toBeGreaterThan(0);
    // What survived is the newest, in order, and survivors plus dropped are exactly what was appended.
    expect(kept).toEqual(Array.from({ length: kept.length }, (_, i) => total - kept.length + i));
    expect(kept.length + dropped).toBe(total);
    await spool.close();
  });

  it('does not count lines already acknowledged when their segment is dropped', async () => {
    const spool = await Spool.open(dir, options({ maxBytes: 8192, segmentBytes: 1024 }));
    await spool.append(Array.from({ length: 10 }, (_, n) => line(n)));
    const read = await spool.read(4, 1 << 20);
    await spool.acknowledge(read.end);
    for (let n = 10; n < 400; n += 1) await spool.append([line(n)]);
    const kept = await drain(spool);
    const dropped = overflows.reduce((sum, drop) => sum + drop.lines, 0);
    expect(kept.length + dropped).toBe(400 - 4);
    await spool.close();
  });

  it('keeps batches within the byte budget, and sends a line longer than the budget alone', async () => {
    const spool = await Spool.open(dir, options());
    await spool.append([line(1), line(2), 'z'.repeat(500), line(3)]);
    const first = await spool.read(100, Buffer.byteLength(line(1)) + 1);
    expect(numbers(first.lines)).toEqual([1]);
    await spool.acknowledge(first.end);
    await spool.acknowledge((await spool.read(100, 1 << 20)).end);
    await spool.append(['y'.repeat(500), line(4)]);
    const oversized = await spool.read(100, 100);
    expect(oversized.lines).toEqual(['y'.repeat(500)]);
    await spool.acknowledge(oversized.end);
    expect(numbers((await spool.read(100, 100)).lines)).toEqual([4]);
    await spool.close();
  });

  it('sets a damaged acknowledgement file aside and sends everything in the spool again', async () => {
    const first = await Spool.open(dir, options());
    await first.append([line(1), line(2), line(3)]);
    await first.acknowledge((await first.read(1, 1 << 20)).end);
    await first.close();
    for (const damage of ['not json', '', '{"segment":1}', '{"segment":-1,"offset":0}']) {
      await writeFile(path.join(dir, 'ack.json'), damage);
      const warnings: string[] = [];
      const reopened = await Spool.open(dir, { ...options(), onWarning: (message) => warnings.push(message) });
      expect(numbers((await reopened.read(100, 1 << 20)).lines)).toEqual([1, 2, 3]);
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatch(/ack\.json was damaged/);
      expect(await readFile(path.join(dir, 'ack.json.damaged'), 'utf8')).toBe(damage);
      await reopened.close();
    }
  });
});
