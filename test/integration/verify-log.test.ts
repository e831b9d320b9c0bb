/**
 * `chokepoint verify-log` against a log written by the real program: two runs of `chokepoint run`
 * appending to one file (a restart), driven by curl through allowed and denied flows; then copies of
 * that log edited, with lines deleted, swapped, duplicated, forged, truncated, and split into a
 * rotated set.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectedHash } from '../../src/events/chain.js';
import { requireBuiltCli, runCli, startCli } from '../helpers/cli.js';
import { curl } from '../helpers/curl.js';
import { eventSchemaErrors } from '../helpers/schemas.js';
import { DENY_UNKNOWN_POLICY, tempRules, type TempRules } from '../helpers/rules.js';
import { httpUpstream, type Upstream } from '../helpers/upstreams.js';

type Line = Record<string, unknown> & { event: { action: string; sequence: number }; chokepoint: { chain: { prev: string; hash: string; start?: boolean } } };

let rules: TempRules;
let upstream: Upstream;
let work: string;
let logFile: string;
/** The real log's lines, as written. */
let lines: string[];

/** One run of the real proxy: an allowed and a denied request through it, then SIGTERM. */
async function runProxyOnce(configFile: string): Promise<void> {
  const cli = startCli(['run', '--config', configFile]);
  try {
    const listening = await cli.waitForStderr(/listening \(http 127\.0\.0\.1:(\d+)/);
    const proxy = `http://127.0.0.1:${listening[1]}`;
    const allowed = await curl(['-x', proxy, `http://127.0.0.1:${upstream.port}/ok`]);
    expect(allowed.status).toBe(200);
    const denied = await curl(['-x', proxy, 'http://denied.example:80/']);
    expect(denied.status).toBe(403);
  } finally {
    cli.child.kill('SIGTERM');
  }
  const exit = await cli.exited;
  expect(exit.code).toBe(0);
}

async function verify(name: string, content: string[] | string, extra: string[] = []): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const file = path.join(work, name);
  await writeFile(file, Array.isArray(content) ? `${content.join('\n')}\n` : content);
  return runCli(['verify-log', ...extra, file]);
}

function parse(line: string): Line {
  return JSON.parse(line) as Line;
}

/** Index (0-based) of the first line with this action after `from`. */
function indexOf(action: string, from = 0): number {
  const index = lines.findIndex((line, at) => at >= from && parse(line).event.action === action);
  if (index < 0) throw new Error(`no ${action} in the log`);
  return index;
}

beforeAll(async () => {
  requireBuiltCli();
  upstream = await httpUpstream();
  rules = await tempRules(DENY_UNKNOWN_POLICY, {
    local: `agent: local\nidentify: { sources: ["127.0.0.1/32"] }\nallow:\n  - { cidr: 127.0.0.1/32, ports: [${upstream.port}] }\n`,
  });
  work = await mkdtemp(path.join(tmpdir(), 'chokepoint-verify-'));
  logFile = path.join(work, 'events.jsonl');
  const configFile = path.join(work, 'chokepoint.yaml');
  await writeFile(
    configFile,
    `listen: { http: "127.0.0.1:0", socks: null }\nrules: ${JSON.stringify(rules.dir)}\nstate_dir: ${JSON.stringify(path.join(work, 'state'))}\nevents: { file: ${JSON.stringify(logFile)}, heartbeat_s: 0 }\n`,
  );
  await runProxyOnce(configFile);
  await runProxyOnce(configFile); // a restart: the same file gets a second chain
  lines = (await readFile(logFile, 'utf8')).split('\n').filter((line) => line !== '');
}, 60_000);

afterAll(async () => {
  await upstream?.close();
  await rules?.remove();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('the log a real proxy writes', () => {
  it('holds two chains, each starting at proxy.started (pino log.level beside the event)', () => {
    const events = lines.map(parse);
    const starts = events.filter((event) => event.chokepoint.chain.start === true);
    expect(starts.map((event) => event.event.action)).toEqual(['proxy.started', 'proxy.started']);
    expect(events.filter((event) => event.event.action === 'proxy.stopped')).toHaveLength(2);
    expect(events.map((event) => event.event.action)).toContain('flow.denied');
    expect(events[0]?.['log.level']).toBe('info');
    for (const event of events) expect(eventSchemaErrors(event), `${event.event.action} #${event.event.sequence}`).toBe('');
    // Each event names its predecessor's hash, and its own hash is what its content says.
    for (const [index, event] of events.entries()) {
      expect(expectedHash(event)).toBe(event.chokepoint.chain.hash);
      if (index > 0 && event.chokepoint.chain.start !== true) expect(event.chokepoint.chain.prev).toBe(events[index - 1]?.chokepoint.chain.hash);
    }
  });

  it('verifies clean: exit 0', async () => {
    const result = await runCli(['verify-log', logFile]);
    expect(result.stdout).toMatch(/the chain is intact/);
    expect(result.code).toBe(0);
  });
});

describe('tampered copies', () => {
  it('finds an edited field, with its line number', async () => {
    const at = indexOf('flow.denied');
    const edited = [...lines];
    edited[at] = (edited[at] as string).replace('"denied.example"', '"innocent.example"');
    expect(edited[at]).not.toBe(lines[at]);
    const result = await verify('edited.jsonl', edited);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(new RegExp(`edited.jsonl:${at + 1}: event seq \\d+ \\(flow.denied\\) was edited`));
  });

  it('finds an edit whose hash was recomputed: the next event no longer links to it', async () => {
    const at = indexOf('flow.denied');
    const forged = parse(lines[at] as string);
    (forged.event as Record<string, unknown>)['reason'] = 'nothing to see';
    forged.chokepoint.chain.hash = expectedHash(forged) ?? '';
    const copy = [...lines];
    copy[at] = JSON.stringify(forged);
    const result = await verify('rehashed.jsonl', copy);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(new RegExp(`rehashed.jsonl:${at + 2}: the chain is broken`));
    expect(result.stdout).not.toMatch(/was edited/);
  });

  it('finds a deleted event', async () => {
    const at = indexOf('flow.allowed');
    const seq = parse(lines[at] as string).event.sequence;
    const result = await verify('deleted.jsonl', lines.filter((_, index) => index !== at));
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(new RegExp(`deleted.jsonl:${at + 1}: seq ${seq} is missing between \\S*deleted.jsonl:${at}`));
  });

  it('finds swapped lines as reordering, not as a deletion', async () => {
    const at = indexOf('flow.allowed');
    const swapped = [...lines];
    [swapped[at], swapped[at + 1]] = [swapped[at + 1] as string, swapped[at] as string];
    const result = await verify('swapped.jsonl', swapped);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(new RegExp(`swapped.jsonl:${at + 2}: seq \\d+ is out of order`));
    expect(result.stdout).not.toMatch(/missing/);
  });

  it('finds a duplicated line and an inserted event', async () => {
    const at = indexOf('flow.allowed');
    const duplicated = [...lines.slice(0, at + 1), lines[at] as string, ...lines.slice(at + 1)];
    const dup = await verify('duplicated.jsonl', duplicated);
    expect(dup.code).toBe(1);
    expect(dup.stdout).toMatch(new RegExp(`duplicated.jsonl:${at + 2}: seq \\d+ repeats the event at \\S*duplicated.jsonl:${at + 1}`));

    const inserted = parse(lines[at] as string);
    (inserted as Record<string, unknown>)['url'] = { full: 'http://forged.example/' };
    inserted.chokepoint.chain.hash = expectedHash(inserted) ?? '';
    const result = await verify('inserted.jsonl', [...lines.slice(0, at + 1), JSON.stringify(inserted), ...lines.slice(at + 1)]);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(new RegExp(`inserted.jsonl:${at + 2}: seq \\d+ was already used at \\S*inserted.jsonl:${at + 1} by a different event`));
  });

  it('tells a truncated run from a restart', async () => {
    // The first run loses its tail (its proxy.stopped among it); the second run starts a new chain.
    const stopped = indexOf('proxy.stopped');
    const truncated = [...lines.slice(0, stopped - 1), ...lines.slice(stopped + 1)];
    const result = await verify('truncated.jsonl', truncated);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(new RegExp(`truncated.jsonl:${stopped - 1}: the chain ends here \\(seq \\d+\\) without proxy.stopped`));
  });

  it('finds a line cut in the middle', async () => {
    const text = `${lines.join('\n')}\n`;
    const result = await verify('cut.jsonl', text.slice(0, text.length - 40));
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(new RegExp(`cut.jsonl:${lines.length}: not complete JSON`));
  });

  it('refuses a new chain that does not start at proxy.started', async () => {
    const at = indexOf('flow.allowed');
    const forged = parse(lines[at] as string);
    forged.chokepoint.chain = { prev: '0'.repeat(64), start: true, hash: '' };
    forged.chokepoint.chain.hash = expectedHash(forged) ?? '';
    const copy = [...lines];
    copy[at] = JSON.stringify(forged);
    const result = await verify('forged-start.jsonl', copy);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(new RegExp(`forged-start.jsonl:${at + 1}: a new chain starts at seq \\d+ \\(flow.allowed\\)`));
  });
});

describe('rotated sets and usage', () => {
  it('verifies a rotated set given oldest first, and finds it given in the wrong order', async () => {
    const cut = indexOf('flow.denied');
    const older = path.join(work, 'rotated.jsonl.1');
    const newer = path.join(work, 'rotated.jsonl');
    await writeFile(older, `${lines.slice(0, cut).join('\n')}\n`);
    await writeFile(newer, `${lines.slice(cut).join('\n')}\n`);
    const inOrder = await runCli(['verify-log', older, newer]);
    expect(inOrder.stdout).toMatch(/the chain is intact/);
    expect(inOrder.code).toBe(0);
    const reversed = await runCli(['verify-log', newer, older]);
    expect(reversed.code).toBe(1);
    expect(reversed.stdout).toMatch(/rotated\.jsonl:1: the log begins mid-chain/);
  });

  it('accepts a set that begins mid-chain only with --partial', async () => {
    const rest = lines.slice(indexOf('flow.denied'));
    expect((await verify('partial.jsonl', rest)).code).toBe(1);
    const partial = await verify('partial.jsonl', rest, ['--partial']);
    expect(partial.stdout).toMatch(/note: the log begins mid-chain/);
    expect(partial.code).toBe(0);
  });

  it('exits 2 without files, on an unknown flag, or on an unreadable file; --help documents it', async () => {
    expect((await runCli(['verify-log'])).code).toBe(2);
    expect((await runCli(['verify-log', '--strict', logFile])).code).toBe(2);
    const missing = await runCli(['verify-log', path.join(work, 'no-such-file')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/no-such-file: ENOENT/);
    expect((await runCli(['--help'])).stdout).toMatch(/verify-log \[--partial\] FILE/);
  });
});
