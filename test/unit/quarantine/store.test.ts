import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { QuarantineStateError, QuarantineStore, type QuarantineEntry } from '../../../src/quarantine/store.js';

let dir: string;
let file: string;

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'chokepoint-quarantine-'));
  file = path.join(dir, 'state', 'quarantine.json');
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const entry = (agent: string, extra: Partial<QuarantineEntry> = {}): QuarantineEntry => ({
  agent,
  since: '2026-11-26T10:00:00.000Z',
  reason: `stratum: ${agent} sent mining.subscribe`,
  flowId: `flow-${agent}`,
  trigger: 'stratum',
  ...extra,
});

async function stateOnDisk(): Promise<{ version: number; quarantined: QuarantineEntry[] }> {
  return JSON.parse(await readFile(file, 'utf8')) as { version: number; quarantined: QuarantineEntry[] };
}

describe('QuarantineStore basics', () => {
  it('starts empty when the state file (and its folder) does not exist', async () => {
    const store = await QuarantineStore.open(file);
    expect(store.list()).toEqual([]);
    expect(store.get('coder-7')).toBeUndefined();
  });

  it('adds, gets, lists and releases', async () => {
    const store = await QuarantineStore.open(file);
    await store.add(entry('coder-7'));
    await store.add(entry('miner-1'));
    expect(store.get('coder-7')).toEqual(entry('coder-7'));
    expect(store.list().map((e) => e.agent)).toEqual(['coder-7', 'miner-1']);
    expect(await store.release('coder-7')).toBe(true);
    expect(await store.release('coder-7')).toBe(false);
    expect(store.get('coder-7')).toBeUndefined();
    expect(store.list().map((e) => e.agent)).toEqual(['miner-1']);
  });

  it('is in force before the write finishes', async () => {
    const store = await QuarantineStore.open(file);
    const written = store.add(entry('coder-7'));
    expect(store.get('coder-7')).toBeDefined();
    await written;
  });

  it('keeps the first reason when an agent is quarantined again', async () => {
    const store = await QuarantineStore.open(file);
    await store.add(entry('coder-7', { reason: 'first', trigger: 'stratum' }));
    await store.add(entry('coder-7', { reason: 'second', trigger: 'reverse_shell' }));
    expect(store.get('coder-7')).toMatchObject({ reason: 'first', trigger: 'stratum' });
    expect((await stateOnDisk()).quarantined).toEqual([expect.objectContaining({ reason: 'first' })]);
  });
});

describe('QuarantineStore persistence', () => {
  it('survives a restart: a new store on the same file sees the same quarantines', async () => {
    const first = await QuarantineStore.open(file);
    await first.add(entry('coder-7', { expiresAt: '2099-01-01T00:00:00.000Z' }));
    await first.add(entry('miner-1'));
    await first.release('miner-1');
    const second = await QuarantineStore.open(file);
    expect(second.list()).toEqual([entry('coder-7', { expiresAt: '2099-01-01T00:00:00.000Z' })]);
  });

  it('writes a versioned JSON document readable only by its owner', async () => {
    const store = await QuarantineStore.open(file);
    await store.add(entry('coder-7'));
    expect(await stateOnDisk()).toEqual({ version: 1, quarantined: [entry('coder-7')] });
    expect((await stat(file)).mode & 0o777).toBe(0o600);
  });

  it('picks up another process’s edit on reload (the release CLI)', async () => {
    const proxy = await QuarantineStore.open(file);
    await proxy.add(entry('coder-7'));
    const cli = await QuarantineStore.open(file);
    await cli.release('coder-7');
    expect(proxy.get('coder-7')).toBeDefined();
    await proxy.reload();
    expect(proxy.get('coder-7')).toBeUndefined();
  });

  it('serialises concurrent writes: the file ends as the last state, with no temporary file left', async () => {
    const store = await QuarantineStore.open(file);
    const agents = Array.from({ length: 20 }, (_, i) => `agent-${i}`);
    await Promise.all([...agents.map((agent) => store.add(entry(agent))), store.release('agent-3'), store.release('agent-17')]);
    const expected = agents.filter((agent) => agent !== 'agent-3' && agent !== 'agent-17');
    expect((await stateOnDisk()).quarantined.map((e) => e.agent)).toEqual(expected);
    expect(await readdir(path.dirname(file))).toEqual(['quarantine.json']);
  });

  it('ignores a temporary file a crash left behind', async () => {
    const store = await QuarantineStore.open(file);
    await store.add(entry('coder-7'));
    await writeFile(`${file}.99999.tmp`, '{"version":1,"quarant');
    expect((await QuarantineStore.open(file)).list().map((e) => e.agent)).toEqual(['coder-7']);
  });

  it('rejects the write that failed, and still saves the next one once the disk is back', async () => {
    const store = await QuarantineStore.open(file);
    // A regular file where the state folder should be: mkdir fails (even as root).
    await writeFile(path.dirname(file), 'not a folder');
    await expect(store.add(entry('coder-7'))).rejects.toThrow();
    expect(store.get('coder-7')).toBeDefined();
    await rm(path.dirname(file));
    await store.add(entry('miner-1'));
    expect((await stateOnDisk()).quarantined.map((e) => e.agent)).toEqual(['coder-7', 'miner-1']);
  });
});

describe('QuarantineStore expiry', () => {
  const now = new Date('2026-11-26T12:00:00.000Z');

  it('drops a quarantine from get and list once expiresAt has passed', async () => {
    const store = await QuarantineStore.open(file);
    await store.add(entry('lapsed', { expiresAt: '2026-11-26T11:59:59.999Z' }));
    await store.add(entry('exactly-now', { expiresAt: now.toISOString() }));
    await store.add(entry('later', { expiresAt: '2026-11-26T12:00:00.001Z' }));
    await store.add(entry('forever'));
    expect(store.get('lapsed', now)).toBeUndefined();
    expect(store.get('exactly-now', now)).toBeUndefined();
    expect(store.get('later', now)).toBeDefined();
    expect(store.list(now).map((e) => e.agent)).toEqual(['later', 'forever']);
  });

  it('keeps an agent quarantined when expiresAt does not parse (fail closed)', async () => {
    const store = await QuarantineStore.open(file);
    await store.add(entry('coder-7', { expiresAt: 'soon' }));
    expect(store.get('coder-7', new Date('2100-01-01T00:00:00.000Z'))).toBeDefined();
  });

  it('quarantines again an agent whose previous quarantine lapsed, with the new reason', async () => {
    const store = await QuarantineStore.open(file);
    await store.add(entry('coder-7', { reason: 'old', expiresAt: '2000-01-01T00:00:00.000Z' }));
    await store.add(entry('coder-7', { reason: 'new' }));
    expect(store.get('coder-7')).toMatchObject({ reason: 'new' });
  });
});

describe('QuarantineStore refuses a state it cannot trust (fail closed)', () => {
  it.each([
    ['not JSON', '{"version":1,"quarantined":[', /not valid JSON/],
    ['empty', '', /not valid JSON/],
    ['JSON null', 'null', /no "quarantined" list/],
    ['no list', '{"version":1}', /no "quarantined" list/],
    ['a list of the wrong type', '{"version":1,"quarantined":{"coder-7":{}}}', /no "quarantined" list/],
    ['an entry without agent', '{"version":1,"quarantined":[{"since":"x","reason":"y"}]}', /malformed entry/],
    ['an entry with a numeric agent', '{"version":1,"quarantined":[{"agent":7,"since":"x","reason":"y"}]}', /malformed entry/],
    ['an entry without reason', '{"version":1,"quarantined":[{"agent":"a","since":"x"}]}', /malformed entry/],
    ['an entry with a numeric expiresAt', '{"version":1,"quarantined":[{"agent":"a","since":"x","reason":"y","expiresAt":1}]}', /malformed entry/],
    ['a null entry', '{"version":1,"quarantined":[null]}', /malformed entry/],
    // Date.parse reads these as a past year, or as local time: an early release, not an expiry.
    ['an expiresAt that is a bare number', '{"version":1,"quarantined":[{"agent":"a","since":"x","reason":"y","expiresAt":"1"}]}', /malformed entry/],
    ['an expiresAt without a time zone', '{"version":1,"quarantined":[{"agent":"a","since":"x","reason":"y","expiresAt":"2099-01-01T00:00:00"}]}', /malformed entry/],
    ['an expiresAt in prose', '{"version":1,"quarantined":[{"agent":"a","since":"x","reason":"y","expiresAt":"Jan 1 2001"}]}', /malformed entry/],
  ])('%s', async (_name, text, message) => {
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, text);
    const opening = QuarantineStore.open(file);
    await expect(opening).rejects.toBeInstanceOf(QuarantineStateError);
    await expect(opening).rejects.toThrow(message);
  });

  it('an unreadable path (a folder where the file should be)', async () => {
    await mkdir(file, { recursive: true });
    await expect(QuarantineStore.open(file)).rejects.toThrow(QuarantineStateError);
  });

  it('a reload that finds a corrupt file throws and keeps the quarantines it had', async () => {
    const store = await QuarantineStore.open(file);
    await store.add(entry('coder-7'));
    await writeFile(file, 'garbage');
    await expect(store.reload()).rejects.toThrow(QuarantineStateError);
    expect(store.get('coder-7')).toBeDefined();
  });

  it('a deleted file on reload releases everyone (the operator removed the state)', async () => {
    const store = await QuarantineStore.open(file);
    await store.add(entry('coder-7'));
    await rm(file);
    await store.reload();
    expect(store.list()).toEqual([]);
  });
});

describe('QuarantineStore reload keeps what it could not save', () => {
  it('does not release a quarantine whose write failed when the state is reloaded', async () => {
    // A directory where the temporary file must go: reading works (no state yet), every write fails.
    const file = path.join(dir, 'quarantine.json');
    await mkdir(`${file}.${process.pid}.tmp`);
    const store = await QuarantineStore.open(file);
    await expect(store.add({ agent: 'miner', since: '2026-11-26T00:00:00.000Z', reason: 'stratum' })).rejects.toThrow();
    expect(store.get('miner')).toBeDefined();
    await store.reload();
    expect(store.get('miner')).toBeDefined();
    await expect(store.release('miner')).rejects.toThrow();
    await store.reload();
    expect(store.get('miner')).toBeUndefined();
  });
});

describe('QuarantineStore expiry', () => {
  it('hides expired entries from get/list, reports them as expired, and knows the next expiry', async () => {
    const store = await QuarantineStore.open(file);
    await store.add(entry('gone', { expiresAt: '2026-11-26T10:00:00.000Z' }));
    await store.add(entry('soon', { expiresAt: '2026-11-26T12:00:00.000Z' }));
    await store.add(entry('forever'));
    const now = new Date('2026-11-26T11:00:00.000Z');
    expect(store.get('gone', now)).toBeUndefined();
    expect(store.list(now).map((item) => item.agent)).toEqual(['soon', 'forever']);
    expect(store.expired(now).map((item) => item.agent)).toEqual(['gone']);
    expect(store.nextExpiry()).toBe(Date.parse('2026-11-26T10:00:00.000Z'));
    await store.release('gone');
    expect(store.nextExpiry()).toBe(Date.parse('2026-11-26T12:00:00.000Z'));
  });

  it('refuses a state file whose expiry is not a time, or whose tags are not strings', async () => {
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, JSON.stringify({ version: 1, quarantined: [entry('x', { expiresAt: 'tomorrow' })] }));
    await expect(QuarantineStore.open(file)).rejects.toThrow(QuarantineStateError);
    await writeFile(file, JSON.stringify({ version: 1, quarantined: [{ ...entry('x'), tags: { run: 7 } }] }));
    await expect(QuarantineStore.open(file)).rejects.toThrow(QuarantineStateError);
  });
});
