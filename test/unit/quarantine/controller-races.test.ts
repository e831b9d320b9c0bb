import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_QUARANTINE_CONFIG } from '../../../src/config/quarantine-config.js';
import { EventBus } from '../../../src/events/bus.js';
import { FlowRegistry } from '../../../src/flow/registry.js';
import { QuarantineController } from '../../../src/quarantine/controller.js';
import { QuarantineStore } from '../../../src/quarantine/store.js';

/**
 * Transitions racing each other must leave the announced state (events, webhooks) equal to the state
 * in force: a release announced after a re-quarantine tells a trainer to resume an agent that is
 * quarantined; a release undone by a reload in flight leaves an agent quarantined that everyone was
 * told was released.
 */

let dir: string;
let file: string;

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'chokepoint-quarantine-races-'));
  file = path.join(dir, 'quarantine.json');
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function controllerOn(store: QuarantineStore): Promise<{ controller: QuarantineController; transitions: string[] }> {
  const events = new EventBus();
  const transitions: string[] = [];
  events.subscribe((event) => {
    if (event.event.action === 'agent.quarantined' || event.event.action === 'agent.released') transitions.push(`${event.event.action} ${event.chokepoint.agent ?? ''}`);
  });
  return { controller: new QuarantineController(store, events, new FlowRegistry({ maxTotal: 10, maxPerAgent: 10 }), DEFAULT_QUARANTINE_CONFIG), transitions };
}

describe('QuarantineController races', () => {
  it('an agent re-quarantined while its expired quarantine is being removed is announced released, then quarantined', async () => {
    const lapsed = { agent: 'miner-1', since: '2026-01-01T00:00:00.000Z', reason: 'stratum', expiresAt: '2026-01-01T00:10:00.000Z' };
    await writeFile(file, JSON.stringify({ version: 1, quarantined: [lapsed] }));
    const store = await QuarantineStore.open(file);
    const { controller, transitions } = await controllerOn(store);
    const starting = controller.start();
    controller.enter({ agent: 'miner-1', reason: 'stratum again', durationS: null });
    await starting;
    await store.settled('miner-1');
    controller.stop();
    expect(transitions).toEqual(['agent.released miner-1', 'agent.quarantined miner-1']);
    expect(store.get('miner-1')?.reason).toBe('stratum again');
  });

  it('two sweeps at once (timer and reload) announce an expiry once', async () => {
    const lapsed = { agent: 'miner-2', since: '2026-01-01T00:00:00.000Z', reason: 'stratum', expiresAt: '2026-01-01T00:10:00.000Z' };
    await writeFile(file, JSON.stringify({ version: 1, quarantined: [lapsed] }));
    const store = await QuarantineStore.open(file);
    const { controller, transitions } = await controllerOn(store);
    await Promise.all([controller.start(), controller.start()]);
    controller.stop();
    expect(transitions).toEqual(['agent.released miner-2']);
  });

  it('a release while a reload is reading the file stays released, in memory and on disk', async () => {
    const store = await QuarantineStore.open(file);
    const { controller, transitions } = await controllerOn(store);
    controller.enter({ agent: 'coder-7', reason: 'operator', durationS: null });
    await store.settled('coder-7');
    const reloading = controller.reloadState();
    const released = controller.release('coder-7');
    await Promise.all([reloading, released]);
    await store.settled();
    controller.stop();
    expect(await released).toBe(true);
    expect(store.get('coder-7')).toBeUndefined();
    expect(JSON.parse(await readFile(file, 'utf8'))).toMatchObject({ quarantined: [] });
    expect(transitions).toEqual(['agent.quarantined coder-7', 'agent.released coder-7']);
  });

  it('an agent quarantined while a reload is reading the file is announced once', async () => {
    const store = await QuarantineStore.open(file);
    const { controller, transitions } = await controllerOn(store);
    const reloading = controller.reloadState();
    controller.enter({ agent: 'coder-8', reason: 'operator', durationS: null });
    await reloading;
    await store.settled('coder-8');
    controller.stop();
    expect(transitions).toEqual(['agent.quarantined coder-8']);
  });

  it('a release in flight never undoes a different quarantine the file got meanwhile', async () => {
    const store = await QuarantineStore.open(file);
    await store.add({ agent: 'coder-9', since: '2026-11-26T10:00:00.000Z', reason: 'first' });
    const fresh = { agent: 'coder-9', since: '2026-11-26T11:00:00.000Z', reason: 'added again from the CLI' };
    await writeFile(file, JSON.stringify({ version: 1, quarantined: [fresh] }));
    const reloading = store.reload();
    const released = store.release('coder-9');
    await Promise.all([reloading, released]);
    expect(store.get('coder-9')).toEqual(fresh);
  });
});

describe('QuarantineStore and the command line editing the file while the proxy runs', () => {
  it("a write by the proxy before its reload keeps the CLI's quarantine, which the reload then enforces", async () => {
    const proxyStore = await QuarantineStore.open(file);
    const cli = await QuarantineStore.open(file);
    await cli.add({ agent: 'coder-1', since: '2026-11-26T10:00:00.000Z', reason: 'operator', trigger: 'operator' });
    // A detection quarantines another agent before the operator's SIGHUP.
    await proxyStore.add({ agent: 'miner-1', since: '2026-11-26T10:00:01.000Z', reason: 'stratum' });
    await proxyStore.reload();
    expect(proxyStore.list().map((entry) => entry.agent).sort()).toEqual(['coder-1', 'miner-1']);
  });

  it("a write by the proxy before its reload keeps the CLI's release; the proxy's own release still lands", async () => {
    const proxyStore = await QuarantineStore.open(file);
    await proxyStore.add({ agent: 'coder-2', since: '2026-11-26T10:00:00.000Z', reason: 'operator' });
    await proxyStore.add({ agent: 'coder-3', since: '2026-11-26T10:00:00.000Z', reason: 'operator' });
    const cli = await QuarantineStore.open(file);
    expect(await cli.release('coder-2')).toBe(true);
    // The proxy releases another agent (an expiry) before the operator's SIGHUP.
    expect(await proxyStore.release('coder-3')).toBe(true);
    expect(proxyStore.get('coder-2')).toBeDefined();
    await proxyStore.reload();
    expect(proxyStore.list()).toEqual([]);
    expect(JSON.parse(await readFile(file, 'utf8'))).toMatchObject({ quarantined: [] });
  });
});

describe('QuarantineController: a second trigger while in quarantine', () => {
  it('never shortens the quarantine in force, and lengthens it when the new trigger asks for longer', async () => {
    const store = await QuarantineStore.open(file);
    const { controller, transitions } = await controllerOn(store);
    controller.enter({ agent: 'coder-4', reason: 'budget', trigger: 'budget.bytes_out', durationS: 600 });
    const first = store.get('coder-4')?.expiresAt;
    controller.enter({ agent: 'coder-4', reason: 'budget again', durationS: 60 });
    expect(store.get('coder-4')?.expiresAt).toBe(first);
    controller.enter({ agent: 'coder-4', reason: 'stratum', trigger: 'stratum', durationS: null });
    await store.settled('coder-4');
    controller.stop();
    expect(store.get('coder-4')).toMatchObject({ reason: 'budget', trigger: 'budget.bytes_out' });
    expect(store.get('coder-4')?.expiresAt).toBeUndefined();
    expect(JSON.parse(await readFile(file, 'utf8'))).toMatchObject({ quarantined: [{ agent: 'coder-4' }] });
    expect((JSON.parse(await readFile(file, 'utf8')) as { quarantined: Array<{ expiresAt?: string }> }).quarantined[0]?.expiresAt).toBeUndefined();
    expect(transitions).toEqual(['agent.quarantined coder-4']);
  });
});
