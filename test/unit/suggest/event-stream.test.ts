import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readEventLines, readEventStream, type ReadResult } from '../../../src/suggest/read-events.js';
import { requireBuiltCli, runCli } from '../../helpers/cli.js';

/**
 * `chokepoint suggest` reads logs of any size as they stream (a long run's log outgrows the longest
 * string Node can hold, ~512 MB) and skips a line too long to be an event without holding it.
 */

const event = (domain: string, extra: Record<string, unknown> = {}): string =>
  JSON.stringify({ event: { action: 'flow.denied' }, chokepoint: { agent: 'a' }, rule: { id: 'default-deny' }, destination: { domain, port: 443 }, ...extra });

describe('readEventStream', () => {
  it('reads the same events as the whole text, however the log is cut into chunks (mid-line, mid-character)', () => {
    const line = fc.oneof(
      fc.constantFrom('a.test', 'b.test', 'bad host').map((domain) => event(domain, { note: 'é—日本' })),
      fc.string(),
      fc.jsonValue().map((value) => JSON.stringify(value)),
    );
    return fc.assert(
      fc.asyncProperty(fc.array(line, { maxLength: 20 }), fc.array(fc.nat(), { maxLength: 10 }), async (lines, cuts) => {
        const bytes = Buffer.from(lines.join('\n'));
        const points = [...new Set(cuts.map((cut) => cut % (bytes.length + 1)))].sort((a, b) => a - b);
        const chunks: Buffer[] = [];
        let from = 0;
        for (const point of [...points, bytes.length]) {
          chunks.push(bytes.subarray(from, point));
          from = point;
        }
        const whole: ReadResult = { events: [], badLines: 0 };
        readEventLines(bytes.toString('utf8'), whole);
        const streamed: ReadResult = { events: [], badLines: 0 };
        await readEventStream(Readable.from(chunks), streamed);
        expect(streamed).toEqual(whole);
      }),
      { numRuns: 200 },
    );
  });

  it('skips a line longer than the limit without holding it, and reads on', async () => {
    const read: ReadResult = { events: [], badLines: 0 };
    const huge = event('huge.test', { padding: 'x'.repeat(3 * 1024 * 1024) });
    await readEventStream(Readable.from([event('before.test'), '\n', huge.slice(0, 1000), huge.slice(1000), '\n', event('after.test')].map((text) => Buffer.from(text))), read);
    expect(read.events.map((seen) => seen.domain)).toEqual(['before.test', 'after.test']);
    expect(read.badLines).toBe(1);
  });

  it('the command reads its files as streams: a 3 MiB line is skipped, not suggested', async () => {
    requireBuiltCli();
    const dir = await mkdtemp(path.join(tmpdir(), 'chokepoint-suggest-stream-'));
    try {
      const log = path.join(dir, 'events.jsonl');
      await writeFile(log, `${event('huge.test', { padding: 'x'.repeat(3 * 1024 * 1024) })}\n${event('fine.test')}\n`);
      const result = await runCli(['suggest', '--events', log, '--rules', path.join(dir, 'no-rules')]);
      expect(result.code).toBe(0);
      expect(result.stdout).toContain('1 unreadable line(s) skipped');
      expect(result.stdout).toContain('host: fine.test');
      expect(result.stdout).not.toContain('huge.test');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
