import pino from 'pino';
import type { ChokepointEvent } from '../events/types.js';
import { formatLine, type EventFormatter } from './format.js';
import { QueuedSink, type QueueOptions } from './queued-sink.js';
import { RotatingFile, type RotationPolicy } from './rotating-file.js';

/** Bytes sonic-boom may hold while stdout's reader is slow; beyond it, lines are dropped and counted. */
const STDOUT_BUFFER_BYTES = 16 * 1024 * 1024;

/** JSON lines on stdout through sonic-boom (asynchronous, like the implicit pino sink). */
export class StdoutSink extends QueuedSink {
  private readonly destination = pino.destination({ dest: 1, sync: false, maxLength: STDOUT_BUFFER_BYTES });

  constructor(options: QueueOptions, private readonly formatter: EventFormatter) {
    super(options);
    this.destination.on('drop', (data: unknown) => {
      const text = typeof data === 'string' ? data : String(data);
      options.reporter.droppedEvents(text.split('\n').length - 1);
    });
  }

  protected encode(event: ChokepointEvent): string {
    return formatLine(event, this.formatter);
  }

  protected deliver(lines: string[]): Promise<void> {
    this.destination.write(`${lines.join('\n')}\n`);
    return Promise.resolve();
  }

  protected release(): Promise<void> {
    try {
      this.destination.flushSync();
    } catch {
      // sonic-boom throws when it is not ready yet; nothing was buffered then.
    }
    return Promise.resolve();
  }
}

/** JSON lines appended to a file that rotates by size and/or day (see RotatingFile). */
export class FileSink extends QueuedSink {
  private readonly file: RotatingFile;

  constructor(
    options: QueueOptions,
    private readonly formatter: EventFormatter,
    file: { path: string; rotation?: RotationPolicy; fsync: boolean },
  ) {
    super(options);
    this.file = new RotatingFile(file.path, file.rotation, file.fsync);
  }

  protected encode(event: ChokepointEvent): string {
    return formatLine(event, this.formatter);
  }

  protected deliver(lines: string[]): Promise<void> {
    return this.file.append(lines);
  }

  protected release(): Promise<void> {
    return this.file.close();
  }
}
