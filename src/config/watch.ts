/**
 * Watches a rules directory and calls back once the files have settled after a change.
 *
 * Why one non-recursive `fs.watch` per directory rather than `{ recursive: true }`: on Linux, Node 20
 * implements recursive watching in JavaScript and it misses events while it walks the tree and can throw
 * when files are deleted (nodejs/node#48437, #52018). Watching each directory ourselves and re-scanning for
 * new or removed subdirectories before every callback is simple and predictable.
 *
 * Why debounce: an editor saves by writing a temporary file and renaming it over the original, and a deploy
 * copies many files; each step is an event. The callback runs once, `debounceMs` after the last event.
 *
 * Limits: replacing the watched directory itself (or a symbolic link to it) is not seen; send SIGHUP then.
 */
import { readdirSync, statSync, watch, type FSWatcher } from 'node:fs';
import path from 'node:path';

export interface RulesWatcher {
  close(): void;
}

export interface WatchRulesOptions {
  /** Quiet time after the last event before `onChange` runs. */
  debounceMs?: number;
}

const DEFAULT_DEBOUNCE_MS = 200;

/** Deep enough for any sensible rules tree, and a stop for symbolic-link loops. */
const MAX_DEPTH = 8;

export function watchRules(dir: string, onChange: () => void, options: WatchRulesOptions = {}): RulesWatcher {
  const debounceMs = options.debounceMs ?? DEFAULT_DEBOUNCE_MS;
  const watchers = new Map<string, FSWatcher>();
  let timer: NodeJS.Timeout | undefined;
  let closed = false;

  const scheduleChange = (): void => {
    if (closed) return;
    clearTimeout(timer);
    timer = setTimeout(fireChange, debounceMs);
  };

  const fireChange = (): void => {
    timer = undefined;
    if (closed) return;
    syncWatchers();
    onChange();
  };

  const startWatching = (directory: string): void => {
    try {
      const watcher = watch(directory, scheduleChange);
      // A watched directory that disappears reports an error on some systems: forget it and re-scan.
      watcher.on('error', () => {
        watcher.close();
        watchers.delete(directory);
        scheduleChange();
      });
      watchers.set(directory, watcher);
    } catch {
      // Vanished or unreadable between the scan and the watch: the next re-scan tries again.
    }
  };

  /** Watch every directory that exists now; stop watching those that are gone. */
  const syncWatchers = (): void => {
    const wanted = listDirectories(dir);
    for (const [directory, watcher] of watchers) {
      if (!wanted.has(directory)) {
        watcher.close();
        watchers.delete(directory);
      }
    }
    for (const directory of wanted) {
      if (!watchers.has(directory)) startWatching(directory);
    }
  };

  syncWatchers();
  return {
    close(): void {
      closed = true;
      clearTimeout(timer);
      for (const watcher of watchers.values()) watcher.close();
      watchers.clear();
    },
  };
}

/** `root` and its subdirectories, skipping dot-directories (editor and ConfigMap internals). */
function listDirectories(root: string): Set<string> {
  const found = new Set<string>();
  const visit = (directory: string, depth: number): void => {
    if (!isDirectory(directory)) return;
    found.add(directory);
    if (depth >= MAX_DEPTH) return;
    let names: string[];
    try {
      names = readdirSync(directory);
    } catch {
      return;
    }
    for (const name of names) {
      if (!name.startsWith('.')) visit(path.join(directory, name), depth + 1);
    }
  };
  visit(root, 0);
  return found;
}

/** Follows symbolic links, so a linked subdirectory is watched too. */
function isDirectory(file: string): boolean {
  try {
    return statSync(file).isDirectory();
  } catch {
    return false;
  }
}
