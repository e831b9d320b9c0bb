import { mkdir, open, readdir, readFile, rename, rm, truncate, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { PartialDelivery } from './queued-sink.js';
import { SpoolLock } from './spool-lock.js';

/**
 * A durable, bounded, on-disk queue of lines: append-only segment files (`seg-<id>.log`) plus an
 * acknowledgement (`ack.json`: the segment and byte offset up to which lines were delivered). Lines
 * are read from the acknowledged position, so what was not acknowledged before a stop or a crash is
 * read again after the restart (at-least-once; exactly-once when every 2xx reaches us).
 *
 * When an append would take the spool past `maxBytes`, whole segments are dropped, oldest first, and
 * the undelivered lines they held are reported to `onOverflow`: loss is counted, never silent.
 */

export interface SpoolPosition {
  segment: number;
  offset: number;
  /** Lines before `offset` in that segment (to count a dropped segment's undelivered lines). */
  index: number;
}

export interface SpoolBatch {
  lines: string[];
  bytes: number;
  /** The position after the last line: acknowledge it once the lines were delivered. */
  end: SpoolPosition;
}

export interface SpoolOptions {
  maxBytes: number;
  /** A segment is closed and a new one started before it would grow past this. */
  segmentBytes: number;
  onOverflow: (dropped: { lines: number; bytes: number }) => void;
  /** Something recovered from that a person should know about (a damaged acknowledgement file). */
  onWarning?: (message: string) => void;
}

interface Segment {
  id: number;
  /** Bytes and lines written to the segment. */
  bytes: number;
  lines: number;
}

const SEGMENT_PATTERN = /^seg-(\d{12})\.log$/;
const ACK_FILE = 'ack.json';
const NEWLINE = 0x0a;

export class Spool {
  private segments: Segment[] = [];
  private ack: SpoolPosition = { segment: 0, offset: 0, index: 0 };
  private writer: { id: number; handle: FileHandle } | undefined;
  private nextId = 1;
  /** Sum of the segments' bytes, kept as it changes (checked once per appended line). */
  private bytesOnDisk = 0;
  private readonly appendListeners = new Set<() => void>();
  private lock: SpoolLock | undefined;

  private constructor(
    readonly dir: string,
    private readonly options: SpoolOptions,
  ) {}

  static async open(dir: string, options: SpoolOptions): Promise<Spool> {
    if (options.segmentBytes * 2 > options.maxBytes) throw new Error('spool segment_bytes must be at most half of max_bytes');
    const spool = new Spool(dir, options);
    await mkdir(dir, { recursive: true });
    spool.lock = await SpoolLock.acquire(dir);
    try {
      await spool.recover();
    } catch (error) {
      await spool.lock.release();
      throw error;
    }
    return spool;
  }

  /** Lines appended and not yet acknowledged. */
  get pendingLines(): number {
    let lines = 0;
    for (const segment of this.segments) if (segment.id >= this.ack.segment) lines += segment.lines;
    return lines - this.ack.index;
  }

  /** Bytes of the spool on disk (acknowledged lines of the oldest segment included). */
  get totalBytes(): number {
    return this.bytesOnDisk;
  }

  /** Calls `listener` after every append (the sender sleeps on it). */
  onAppend(listener: () => void): () => void {
    this.appendListeners.add(listener);
    return () => this.appendListeners.delete(listener);
  }

  /**
   * Appends `lines` (none holds a newline), in order. Callers serialise appends. A segment counts a
   * line only once it is written: the sender never reads (and acknowledges past) bytes a failed write
   * (ENOSPC) is about to cut off again. Lines written before a failure are not appended twice: the
   * error is then a PartialDelivery saying how many got in.
   */
  async append(lines: readonly string[]): Promise<void> {
    const dropped = { lines: 0, bytes: 0 };
    let written = 0;
    let group: string[] = [];
    let groupBytes = 0;
    const writeGroup = async (): Promise<void> => {
      const segment = this.segments.at(-1);
      if (group.length === 0 || !this.writer || !segment) return;
      const handle = this.writer.handle;
      try {
        await writeFully(handle, Buffer.from(`${group.join('\n')}\n`));
      } catch (error) {
        // Cut what reached the file: the retry then appends these lines once, whole.
        await handle.truncate(segment.bytes).catch(async () => {
          // Cannot cut: the torn tail lies beyond what the segment counts, so it is never read; new
          // lines go to a fresh segment.
          this.writer = undefined;
          await handle.close().catch(() => undefined);
        });
        throw error;
      }
      segment.bytes += groupBytes;
      segment.lines += group.length;
      this.bytesOnDisk += groupBytes;
      written += group.length;
      group = [];
      groupBytes = 0;
    };
    try {
      for (const line of lines) {
        const bytes = Buffer.byteLength(line) + 1;
        const current = this.segments.at(-1);
        const size = (current?.bytes ?? 0) + groupBytes;
        if (!this.writer || !current || current.id !== this.writer.id || (size > 0 && size + bytes > this.options.segmentBytes)) {
          await writeGroup();
          await this.startSegment();
        }
        if (this.bytesOnDisk + groupBytes + bytes > this.options.maxBytes) await this.makeRoom(groupBytes + bytes, dropped);
        group.push(line);
        groupBytes += bytes;
      }
      await writeGroup();
    } catch (error) {
      throw written > 0 ? new PartialDelivery(written, error) : error;
    } finally {
      if (dropped.lines > 0) this.options.onOverflow(dropped);
      for (const listener of this.appendListeners) listener();
    }
  }

  /** Up to `maxLines` lines (about `maxBytes`) from the acknowledged position; empty when none. */
  async read(maxLines: number, maxBytes: number): Promise<SpoolBatch> {
    const lines: string[] = [];
    let bytes = 0;
    let position = { ...this.ack };
    while (lines.length < maxLines) {
      const index = this.segments.findIndex((segment) => segment.id >= position.segment);
      const segment = this.segments[index];
      if (!segment) break;
      if (segment.id !== position.segment) position = { segment: segment.id, offset: 0, index: 0 };
      if (position.offset >= segment.bytes) {
        const next = this.segments[index + 1];
        if (!next) break;
        position = { segment: next.id, offset: 0, index: 0 };
        continue;
      }
      const remaining = segment.bytes - position.offset;
      const want = Math.min(remaining, maxBytes - bytes);
      const chunk = await this.readSegment(segment.id, position.offset, want);
      let taken = takeLines(chunk, maxLines - lines.length);
      if (taken.lines.length === 0 && lines.length === 0 && chunk.length === want && want < remaining) {
        // The first line is longer than the whole byte budget: it goes alone, read whole.
        taken = takeLines(await this.readSegment(segment.id, position.offset, remaining), 1);
      }
      if (taken.lines.length === 0) break;
      lines.push(...taken.lines);
      bytes += taken.bytes;
      position = { segment: segment.id, offset: position.offset + taken.bytes, index: position.index + taken.lines.length };
      if (bytes >= maxBytes) break;
    }
    return { lines, bytes, end: position };
  }

  /** Marks everything before `end` as delivered; segments wholly before it are deleted. */
  async acknowledge(end: SpoolPosition): Promise<void> {
    // A segment dropped on overflow while its lines were in flight moved the ack past them already.
    if (end.segment < this.ack.segment || (end.segment === this.ack.segment && end.offset <= this.ack.offset)) return;
    this.ack = { ...end };
    const obsolete = this.segments.filter((segment) => segment.id < end.segment && segment.id !== this.writer?.id);
    this.segments = this.segments.filter((segment) => !obsolete.includes(segment));
    for (const segment of obsolete) this.bytesOnDisk -= segment.bytes;
    const file = path.join(this.dir, ACK_FILE);
    // Synced before the rename: after a power cut the file is the old or the new position, never empty.
    const handle = await open(`${file}.tmp`, 'w');
    try {
      await handle.writeFile(JSON.stringify(this.ack));
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(`${file}.tmp`, file);
    await Promise.all(obsolete.map((segment) => rm(this.segmentPath(segment.id), { force: true })));
  }

  async close(): Promise<void> {
    const writer = this.writer;
    this.writer = undefined;
    if (writer) {
      await writer.handle.sync().catch(() => undefined);
      await writer.handle.close();
    }
    const lock = this.lock;
    this.lock = undefined;
    await lock?.release();
  }

  private segmentPath(id: number): string {
    return path.join(this.dir, `seg-${String(id).padStart(12, '0')}.log`);
  }

  private async startSegment(): Promise<void> {
    const previous = this.writer;
    this.writer = undefined;
    if (previous) await previous.handle.close();
    const id = this.nextId++;
    this.writer = { id, handle: await open(this.segmentPath(id), 'a') };
    this.segments.push({ id, bytes: 0, lines: 0 });
  }

  /** Drops the oldest segments (never the one being written) until `bytes` more fit in the bound. */
  private async makeRoom(bytes: number, dropped: { lines: number; bytes: number }): Promise<void> {
    while (this.bytesOnDisk + bytes > this.options.maxBytes && this.segments.length > 1) {
      const oldest = this.segments.shift();
      if (!oldest) break;
      this.bytesOnDisk -= oldest.bytes;
      const inAck = oldest.id === this.ack.segment;
      if (oldest.id >= this.ack.segment) {
        dropped.lines += oldest.lines - (inAck ? this.ack.index : 0);
        dropped.bytes += oldest.bytes - (inAck ? this.ack.offset : 0);
      }
      const next = this.segments[0];
      if (next && this.ack.segment <= oldest.id) this.ack = { segment: next.id, offset: 0, index: 0 };
      await rm(this.segmentPath(oldest.id), { force: true });
    }
  }

  private async readSegment(id: number, offset: number, length: number): Promise<Buffer> {
    let handle: FileHandle;
    try {
      handle = await open(this.segmentPath(id), 'r');
    } catch (error) {
      // Dropped on overflow between the look-up and the open: nothing to read there any more.
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return Buffer.alloc(0);
      throw error;
    }
    try {
      const buffer = Buffer.alloc(length);
      const { bytesRead } = await handle.read(buffer, 0, length, offset);
      return buffer.subarray(0, bytesRead);
    } finally {
      await handle.close();
    }
  }

  /** Rebuilds the segment list from disk; cuts a line torn by a crash; resumes at the saved ack. */
  private async recover(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const ids = (await readdir(this.dir))
      .map((name) => SEGMENT_PATTERN.exec(name)?.[1])
      .filter((id): id is string => id !== undefined)
      .map(Number)
      .sort((a, b) => a - b);
    const saved = await this.readAck();
    for (const id of ids) {
      if (saved && id < saved.segment) {
        await rm(this.segmentPath(id), { force: true });
        continue;
      }
      const content = await readFile(this.segmentPath(id));
      const complete = content.lastIndexOf(NEWLINE) + 1;
      if (complete < content.length) await truncate(this.segmentPath(id), complete);
      this.segments.push({ id, bytes: complete, lines: countNewlines(content, complete) });
      this.bytesOnDisk += complete;
      if (saved && id === saved.segment) {
        const offset = Math.min(saved.offset, complete);
        this.ack = { segment: id, offset, index: countNewlines(content, offset) };
      }
    }
    this.nextId = (ids.at(-1) ?? 0) + 1;
    const first = this.segments[0];
    if (first && this.ack.segment < first.id) this.ack = { segment: first.id, offset: 0, index: 0 };
  }

  /**
   * The saved position; undefined when there is none. A damaged file (cut by a crash on a filesystem
   * that does not order the rename after the data, edited by hand) is set aside as `ack.json.damaged`
   * and everything still in the spool is sent again: duplicates a SIEM can spot by their chain hash,
   * rather than a proxy that does not start or events skipped on a guess.
   */
  private async readAck(): Promise<SpoolPosition | undefined> {
    const file = path.join(this.dir, ACK_FILE);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    const position = parseAck(text);
    if (position) return position;
    await rename(file, `${file}.damaged`);
    this.options.onWarning?.(`${file} was damaged (kept as ${ACK_FILE}.damaged): every event still in the spool is sent again`);
    return undefined;
  }
}

function parseAck(text: string): SpoolPosition | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const { segment, offset } = parsed as Record<string, unknown>;
  if (!Number.isSafeInteger(segment) || !Number.isSafeInteger(offset) || (segment as number) < 0 || (offset as number) < 0) return undefined;
  return { segment: segment as number, offset: offset as number, index: 0 };
}

/** Complete lines at the start of `chunk`, at most `max`; `bytes` counts their newlines. */
function takeLines(chunk: Buffer, max: number): { lines: string[]; bytes: number } {
  const lines: string[] = [];
  let start = 0;
  while (lines.length < max) {
    const end = chunk.indexOf(NEWLINE, start);
    if (end < 0) break;
    lines.push(chunk.toString('utf8', start, end));
    start = end + 1;
  }
  return { lines, bytes: start };
}

function countNewlines(buffer: Buffer, end: number): number {
  let count = 0;
  for (let at = buffer.indexOf(NEWLINE); at >= 0 && at < end; at = buffer.indexOf(NEWLINE, at + 1)) count += 1;
  return count;
}

async function writeFully(handle: FileHandle, data: Buffer): Promise<void> {
  let offset = 0;
  while (offset < data.length) {
    const { bytesWritten } = await handle.write(data, offset, data.length - offset);
    offset += bytesWritten;
  }
}
