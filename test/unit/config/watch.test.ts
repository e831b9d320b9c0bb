import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { watchRules, type RulesWatcher } from '../../../src/config/watch.js';
import { makeTempTree, type TempTree } from './temp-tree.js';

const DEBOUNCE_MS = 200;
/** Long enough after a callback for a second one to have arrived, were the burst not coalesced. */
const SETTLE_MS = DEBOUNCE_MS * 5;

/** Counts callbacks and lets a test wait for the next one. */
class ChangeCounter {
  count = 0;
  private waiters: Array<() => void> = [];

  readonly onChange = (): void => {
    this.count += 1;
    for (const resolve of this.waiters.splice(0)) resolve();
  };

  next(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }
}

let tree: TempTree | undefined;
let watcher: RulesWatcher | undefined;
afterEach(async () => {
  watcher?.close();
  watcher = undefined;
  await tree?.remove();
  tree = undefined;
});

async function startWatching(): Promise<{ root: string; changes: ChangeCounter }> {
  tree = await makeTempTree({ 'policy.yaml': 'unknown_agent: deny\n', 'agents/a.yaml': 'agent: a\n' });
  const changes = new ChangeCounter();
  watcher = watchRules(tree.root, changes.onChange, { debounceMs: DEBOUNCE_MS });
  return { root: tree.root, changes };
}

describe('watchRules', () => {
  it('calls back once for a burst of writes, including an editor write-and-rename', async () => {
    const { root, changes } = await startWatching();
    const changed = changes.next();
    for (let index = 0; index < 5; index++) writeFileSync(path.join(root, 'agents', `b${index}.yaml`), `agent: b${index}\n`);
    writeFileSync(path.join(root, 'agents', '.a.yaml.tmp'), 'agent: a\nmode: audit\n');
    renameSync(path.join(root, 'agents', '.a.yaml.tmp'), path.join(root, 'agents', 'a.yaml'));
    writeFileSync(path.join(root, 'policy.yaml'), 'unknown_agent: a\n');
    await changed;
    await sleep(SETTLE_MS);
    expect(changes.count).toBe(1);
  });

  it('watches subdirectories, including ones created after it started', async () => {
    const { root, changes } = await startWatching();
    let changed = changes.next();
    mkdirSync(path.join(root, 'intel', 'lists'), { recursive: true });
    await changed;

    changed = changes.next();
    writeFileSync(path.join(root, 'intel', 'lists', 'pools.txt'), 'pool.example\n');
    await changed;

    changed = changes.next();
    writeFileSync(path.join(root, 'agents', 'a.yaml'), 'agent: a\nmode: audit\n');
    await changed;
    expect(changes.count).toBe(3);
  });

  it('stays silent after close', async () => {
    const { root, changes } = await startWatching();
    watcher?.close();
    writeFileSync(path.join(root, 'agents', 'a.yaml'), 'agent: a\nmode: audit\n');
    await sleep(SETTLE_MS);
    expect(changes.count).toBe(0);
  });
});
