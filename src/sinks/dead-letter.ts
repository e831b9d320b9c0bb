import { open, stat } from 'node:fs/promises';

/**
 * Lines an HTTP collector rejected for good, kept on disk instead of blocking the lines behind them:
 * `dead-letter.jsonl` in the sink's spool directory, one spooled line per line, appended and synced.
 * Bounded: past `maxBytes` a line is not written (the caller reports it as lost).
 */
export class DeadLetterFile {
  private size: number | undefined;

  constructor(
    readonly file: string,
    private readonly maxBytes: number,
  ) {}

  /** Appends `line`; false when the file is full and the line was not kept. */
  async append(line: string): Promise<boolean> {
    const data = Buffer.from(`${line}\n`);
    this.size ??= await stat(this.file).then(
      (info) => info.size,
      (error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT') return 0;
        throw error;
      },
    );
    if (this.size + data.length > this.maxBytes) return false;
    const handle = await open(this.file, 'a');
    try {
      let offset = 0;
      while (offset < data.length) offset += (await handle.write(data, offset, data.length - offset)).bytesWritten;
      // Synced before the spool acknowledges the line: the line is always in one of the two.
      await handle.sync();
    } finally {
      await handle.close();
    }
    this.size += data.length;
    return true;
  }
}
