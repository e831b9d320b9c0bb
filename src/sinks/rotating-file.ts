import { mkdir, open, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { PartialDelivery } from './queued-sink.js';

export interface RotationPolicy {
  /** Start a new file before one would grow past this many bytes. */
  maxBytes?: number;
  /** Start a new file when the UTC day changes. */
  daily: boolean;
  /** Rotated files kept: `FILE.1` (newest) … `FILE.<keep>`; older ones are deleted. */
  keep: number;
}

/**
 * An append-only file of lines that rotates by size and/or day. Lines are only ever written whole and
 * rotation happens between two writes, by renaming: a line is in exactly one file, never split across
 * two, never written twice. Callers serialise `append` (the queued sink's single loop does).
 */
export class RotatingFile {
  private handle: FileHandle | undefined;
  private size = 0;
  private day = '';

  constructor(
    readonly file: string,
    private readonly rotation: RotationPolicy | undefined,
    private readonly fsync: boolean,
    private readonly today: () => string = () => new Date().toISOString().slice(0, 10),
  ) {}

  async append(lines: readonly string[]): Promise<void> {
    if (!this.handle) await this.openCurrent();
    let start = 0;
    while (start < lines.length) {
      if (this.size > 0 && this.rotation?.daily && this.day !== this.today()) await this.rotate();
      // As many lines as fit in the current file; at least one, so an oversized line still gets written.
      let bytes = 0;
      let end = start;
      const limit = this.rotation?.maxBytes;
      while (end < lines.length) {
        const lineBytes = Buffer.byteLength(lines[end] ?? '') + 1;
        if (limit !== undefined && this.size + bytes + lineBytes > limit && (bytes > 0 || this.size > 0)) break;
        bytes += lineBytes;
        end += 1;
      }
      if (end === start) {
        await this.rotate();
        continue;
      }
      const chunk = `${lines.slice(start, end).join('\n')}\n`;
      try {
        await this.writeAll(chunk);
      } catch (error) {
        // The lines before `start` are in a file: the retry must not write them again.
        throw start > 0 ? new PartialDelivery(start, error) : error;
      }
      this.size += bytes;
      start = end;
    }
    if (this.fsync) await this.handle?.sync();
  }

  async close(): Promise<void> {
    const handle = this.handle;
    this.handle = undefined;
    if (!handle) return;
    await handle.sync().catch(() => undefined);
    await handle.close();
  }

  /**
   * Writes `chunk` whole or not at all: a disk that fills up (ENOSPC) mid-chunk has taken part of a
   * line; that part is cut off again, so the retry does not leave a torn line (and the lines before
   * it twice) in the log that verify-log reads.
   */
  private async writeAll(chunk: string): Promise<void> {
    const handle = this.handle;
    if (!handle) throw new Error('file is not open');
    const data = Buffer.from(chunk);
    let offset = 0;
    try {
      while (offset < data.length) {
        const { bytesWritten } = await handle.write(data, offset, data.length - offset);
        offset += bytesWritten;
      }
    } catch (error) {
      if (offset > 0) {
        await handle.truncate(this.size).catch(async () => {
          // Cannot cut it: a fresh handle at the next append re-reads the size (the torn part stays).
          this.handle = undefined;
          await handle.close().catch(() => undefined);
        });
      }
      throw error;
    }
  }

  private async openCurrent(): Promise<void> {
    await mkdir(path.dirname(this.file), { recursive: true });
    this.handle = await open(this.file, 'a');
    const info = await stat(this.file);
    this.size = info.size;
    // A file carried over from an earlier run belongs to the day it was last written.
    this.day = info.size > 0 ? info.mtime.toISOString().slice(0, 10) : this.today();
  }

  private async rotate(): Promise<void> {
    const keep = this.rotation?.keep ?? 1;
    await this.close();
    await rm(`${this.file}.${keep}`, { force: true });
    for (let index = keep - 1; index >= 1; index -= 1) {
      await rename(`${this.file}.${index}`, `${this.file}.${index + 1}`).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'ENOENT') throw error;
      });
    }
    await rename(this.file, `${this.file}.1`);
    await this.openCurrent();
  }
}
