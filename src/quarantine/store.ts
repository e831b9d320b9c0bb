import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { messageOf } from '../error-message.js';

/**
 * Quarantined agents: every live flow of the agent is closed and every new one denied until an
 * operator releases it. The state is a small JSON file rewritten atomically (write, then rename), so a
 * restart — or a crash — never releases an agent. An unreadable state file stops the proxy from
 * starting rather than forgetting who was quarantined (fail closed).
 */

export interface QuarantineEntry {
  agent: string;
  /** ISO time the agent entered quarantine. */
  since: string;
  reason: string;
  flowId?: string;
  /** The detection kind that triggered it, e.g. "stratum". */
  trigger?: string;
  /** ISO time after which the quarantine lapses by itself; absent = until released. */
  expiresAt?: string;
  /** The rule id that decided it (`detection.stratum`, `budget.bytes_out`). */
  rule?: string;
  /** Correlation tags of the flow that triggered it (run / episode / step), for the release webhook too. */
  tags?: Record<string, string>;
}

export class QuarantineStateError extends Error {}

const STATE_FILE_NAME = 'quarantine.json';

export class QuarantineStore {
  private entries = new Map<string, QuarantineEntry>();
  private writing: Promise<void> = Promise.resolve();
  /** Agents quarantined in memory whose quarantine has not reached the file yet. */
  private readonly unsaved = new Set<string>();
  /**
   * The file as this store last read or wrote it: the common base when the file changed meanwhile
   * (`chokepoint quarantine add|release` while the proxy runs), so a write keeps the other side's edits.
   */
  private onDisk = new Map<string, QuarantineEntry>();
  /** Agents released in memory whose release has not reached the file yet → `since` of what was released. */
  private readonly unsavedReleases = new Map<string, string>();

  private constructor(readonly file: string) {}

  /** The store kept in `stateDir` (the proxy and `chokepoint quarantine` must agree on the file). */
  static openIn(stateDir: string): Promise<QuarantineStore> {
    return QuarantineStore.open(path.join(stateDir, STATE_FILE_NAME));
  }

  static async open(file: string): Promise<QuarantineStore> {
    const store = new QuarantineStore(file);
    await store.reload();
    return store;
  }

  /**
   * Re-reads the file (after `chokepoint quarantine release` edited it, on reload / SIGHUP). Waits for
   * writes in progress, and keeps quarantines that are in force but not yet saved (a failed write):
   * a reload may release only what the file says was released, never what it never heard of.
   */
  reload(): Promise<void> {
    // Runs in the same queue as the writes, so a write never saves a map the reload is replacing.
    const step = this.writing.then(() => this.readAndMerge());
    this.writing = step.catch(() => undefined);
    return step;
  }

  private async readFileEntries(): Promise<Map<string, QuarantineEntry>> {
    try {
      return parseState(this.file, await readFile(this.file, 'utf8'));
    } catch (error) {
      if (error instanceof QuarantineStateError) throw error;
      if (!isMissingFile(error)) throw new QuarantineStateError(`cannot read quarantine state ${this.file}: ${describe(error)}`);
      return new Map();
    }
  }

  private async readAndMerge(): Promise<void> {
    const fromFile = await this.readFileEntries();
    this.onDisk = new Map(fromFile);
    for (const agent of this.unsaved) {
      const entry = this.entries.get(agent);
      if (entry && !fromFile.has(agent)) fromFile.set(agent, entry);
    }
    // Likewise a release made here but not written yet: the file read is older, it must not undo it
    // (a quarantine the file has from elsewhere since — another `since` — is a new one and stays).
    for (const [agent, since] of this.unsavedReleases) if (fromFile.get(agent)?.since === since) fromFile.delete(agent);
    this.entries = fromFile;
  }

  /** The agent's quarantine, unless it has expired. */
  get(agent: string, now = new Date()): QuarantineEntry | undefined {
    const entry = this.entries.get(agent);
    if (entry?.expiresAt && Date.parse(entry.expiresAt) <= now.getTime()) return undefined;
    return entry;
  }

  /** Entries whose `expiresAt` has passed but that are still on file (to be released with an event). */
  expired(now = new Date()): QuarantineEntry[] {
    return [...this.entries.values()].filter((entry) => entry.expiresAt !== undefined && Date.parse(entry.expiresAt) <= now.getTime());
  }

  /** The earliest `expiresAt` still ahead, in epoch milliseconds (for the expiry timer). */
  nextExpiry(): number | undefined {
    let next: number | undefined;
    for (const entry of this.entries.values()) {
      const at = entry.expiresAt === undefined ? Number.NaN : Date.parse(entry.expiresAt);
      if (Number.isFinite(at) && (next === undefined || at < next)) next = at;
    }
    return next;
  }

  list(now = new Date()): QuarantineEntry[] {
    return [...this.entries.keys()].flatMap((agent) => this.get(agent, now) ?? []);
  }

  /**
   * Adds (or keeps) a quarantine. It is in force as soon as this returns; the promise resolves once it
   * is on disk. The first reason is kept.
   */
  add(entry: QuarantineEntry): Promise<void> {
    if (!this.get(entry.agent)) this.entries.set(entry.agent, entry);
    this.unsaved.add(entry.agent);
    this.unsavedReleases.delete(entry.agent);
    return this.persist();
  }

  /** Puts `entry` in place of the agent's quarantine in force (a longer one); saved by the next write. */
  replace(entry: QuarantineEntry): void {
    if (!this.get(entry.agent)) return;
    this.entries.set(entry.agent, entry);
    this.unsaved.add(entry.agent);
  }

  /** Releases the agent; resolves to whether it was quarantined. */
  async release(agent: string): Promise<boolean> {
    const released = this.entries.get(agent);
    const had = this.entries.delete(agent);
    this.unsaved.delete(agent);
    if (released) this.unsavedReleases.set(agent, released.since);
    await this.persist();
    return had;
  }

  /**
   * Resolves once every write queued so far has run; rejects when `agent`'s entry is still unsaved
   * (its write failed), so a caller can tell "in force" from "in force and survives a restart".
   */
  async settled(agent?: string): Promise<void> {
    await this.writing;
    if (agent !== undefined && this.unsaved.has(agent)) {
      throw new Error(`quarantine of ${agent} is in force but could not be saved to ${this.file}`);
    }
  }

  private persist(): Promise<void> {
    // Writes are serialised, and each saves the map as it is when its turn comes (after any reload
    // queued before it), so an older state can never be renamed over a newer one.
    const write = this.writing.then(async () => {
      const merged = mergeEdits(this.onDisk, this.entries, await this.readFileEntries().catch(() => undefined));
      const snapshot = JSON.stringify({ version: 1, quarantined: [...merged.values()] }, null, 2);
      const saving = [...this.unsaved];
      const releasing = [...this.unsavedReleases.keys()];
      await mkdir(path.dirname(this.file), { recursive: true });
      const temporary = `${this.file}.${process.pid}.tmp`;
      await writeFile(temporary, `${snapshot}\n`, { mode: 0o600 });
      await rename(temporary, this.file);
      this.onDisk = merged;
      for (const agent of saving) this.unsaved.delete(agent);
      // Only if not quarantined again since this snapshot was taken (then `add` took it off the set).
      for (const agent of releasing) if (!this.entries.has(agent)) this.unsavedReleases.delete(agent);
    });
    // The caller learns of its own failure; the next write still runs (a full disk that recovers).
    this.writing = write.catch(() => undefined);
    return write;
  }
}

/**
 * What to write: this store's map, except for agents whose entry changed on disk since `base` (read or
 * written here) while it did not change here — those are edits from elsewhere (the CLI's add or
 * release), kept in the file for the running proxy to apply (and announce) on its next reload. Without
 * this, any write here between the CLI's edit and the reload would silently undo the edit. An
 * unreadable file (`current` undefined) is overwritten with this store's map.
 */
function mergeEdits(
  base: ReadonlyMap<string, QuarantineEntry>,
  ours: ReadonlyMap<string, QuarantineEntry>,
  current: ReadonlyMap<string, QuarantineEntry> | undefined,
): Map<string, QuarantineEntry> {
  const merged = new Map(ours);
  if (!current) return merged;
  for (const agent of new Set([...base.keys(), ...current.keys()])) {
    const before = base.get(agent)?.since;
    const theirs = current.get(agent);
    if (theirs?.since === before || ours.get(agent)?.since !== before) continue;
    if (theirs) merged.set(agent, theirs);
    else merged.delete(agent);
  }
  return merged;
}

function parseState(file: string, text: string): Map<string, QuarantineEntry> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new QuarantineStateError(`quarantine state ${file} is not valid JSON: ${describe(error)}`);
  }
  const list = typeof parsed === 'object' && parsed !== null && 'quarantined' in parsed ? parsed.quarantined : undefined;
  if (!Array.isArray(list)) throw new QuarantineStateError(`quarantine state ${file} has no "quarantined" list`);
  const entries = new Map<string, QuarantineEntry>();
  for (const item of list) {
    if (!isEntry(item)) throw new QuarantineStateError(`quarantine state ${file} has a malformed entry: ${JSON.stringify(item).slice(0, 200)}`);
    entries.set(item.agent, item);
  }
  return entries;
}

/**
 * An ISO 8601 instant with its offset, as this program writes it. `Date.parse` alone would take "1" as
 * the year 2001 or a zone-less time as local time — either can release an agent early.
 */
const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;

function isEntry(value: unknown): value is QuarantineEntry {
  if (typeof value !== 'object' || value === null) return false;
  const field = (name: string): unknown => (name in value ? Reflect.get(value, name) : undefined);
  const expiresAt = field('expiresAt');
  return typeof field('agent') === 'string' && typeof field('since') === 'string' && typeof field('reason') === 'string' &&
    (expiresAt === undefined || (typeof expiresAt === 'string' && ISO_INSTANT.test(expiresAt) && Number.isFinite(Date.parse(expiresAt)))) &&
    isOptionalTags(field('tags'));
}

function isOptionalTags(value: unknown): boolean {
  if (value === undefined) return true;
  return typeof value === 'object' && value !== null && !Array.isArray(value) && Object.values(value).every((tag) => typeof tag === 'string');
}

function isMissingFile(error: unknown): boolean {
  return error instanceof Error && 'code' in error && error.code === 'ENOENT';
}

function describe(error: unknown): string {
  return messageOf(error);
}
