import type { EventSink } from '../events/bus.js';
import type { ChokepointEvent } from '../events/types.js';
import type { EventPredicate } from './filter.js';
import type { SinkReporter } from './reporter.js';

/** A sink the server owns: named, and closed (timers, sockets, files) when the proxy stops. */
export interface ManagedSink extends EventSink {
  readonly name: string;
  close(): Promise<void>;
}

export interface QueueOptions {
  name: string;
  accepts: EventPredicate;
  /** Events held in memory; beyond it new ones are dropped and counted (`sink.dropped`). */
  queueMax: number;
  /** Largest number of lines handed to `deliver` at once. */
  batchMax: number;
  /** Wait after a failed delivery before trying the same lines again. */
  retryMs: number;
  /**
   * Set for network destinations: the wait doubles with each failure in a row up to this, with
   * jitter, so a fleet of proxies does not reconnect in lockstep to a SIEM that is coming back.
   */
  retryMaxMs?: number;
  reporter: SinkReporter;
  /**
   * Longest `flush` waits for a network destination that takes nothing (a syslog server that stopped
   * reading): stopping the proxy must not hang on it. Absent for local disks (file, spool), which are
   * only slow, never gone: a deadline there would throw away events at every busy stop.
   */
  flushTimeoutMs?: number;
}

/**
 * The asynchronous half every sink shares: `write` only encodes and queues (it never waits for a
 * disk or a network), a single loop hands batches to `deliver` in order, and a failed batch is retried
 * after `retryMs` rather than skipped. The queue is bounded, so a dead destination costs a counted
 * `sink.dropped`, never the proxy's memory.
 */
export abstract class QueuedSink implements ManagedSink {
  readonly name: string;
  private queue: string[] = [];
  private running = false;
  private failing = false;
  protected closed = false;
  private idleWaiters: Array<() => void> = [];
  private retryTimer: { timer: NodeJS.Timeout; resolve: () => void } | undefined;

  constructor(protected readonly options: QueueOptions) {
    this.name = options.name;
  }

  /** The line this sink writes for `event` (no trailing newline). */
  protected abstract encode(event: ChokepointEvent): string;
  /** Hands `lines` on, in order; rejects when they did not all get there (they are retried). */
  protected abstract deliver(lines: string[]): Promise<void>;
  /** Releases what `deliver` opened; called once, after the queue is drained or abandoned. */
  protected abstract release(): Promise<void>;

  write(event: ChokepointEvent): void {
    if (this.closed || !this.options.accepts(event)) return;
    if (this.queue.length >= this.options.queueMax) {
      this.options.reporter.droppedEvents(1);
      return;
    }
    let line: string;
    try {
      line = this.encode(event);
    } catch (error) {
      this.options.reporter.error(`cannot encode event ${event.event.sequence}: ${describe(error)}`);
      return;
    }
    this.queue.push(line);
    if (!this.running) {
      this.running = true;
      setImmediate(() => void this.drain());
    }
  }

  /**
   * Resolves when the queue is empty; at once while the destination is failing, and after
   * `flushTimeoutMs` (when set) if it is stuck: stop must not hang on a receiver.
   */
  flush(): Promise<void> {
    if ((!this.running && this.queue.length === 0) || this.failing) return Promise.resolve();
    const deadline = this.options.flushTimeoutMs;
    return new Promise((resolve) => {
      const timer = deadline === undefined ? undefined : setTimeout(done, deadline);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.idleWaiters.push(done);
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.flush();
    this.closed = true;
    this.cancelRetry();
    const abandoned = this.queue.length;
    this.queue = [];
    if (abandoned > 0) this.options.reporter.droppedEvents(abandoned);
    await this.release().catch((error: unknown) => this.options.reporter.error(`close: ${describe(error)}`));
    this.options.reporter.close();
  }

  /** Lines queued and not yet delivered (for tests and the report). */
  get queued(): number {
    return this.queue.length;
  }

  private async drain(): Promise<void> {
    let failures = 0;
    while (this.queue.length > 0 && !this.closed) {
      const batch = this.queue.splice(0, this.options.batchMax);
      try {
        await this.deliver(batch);
        this.failing = false;
        failures = 0;
      } catch (error) {
        failures += 1;
        if (this.closed) break;
        this.failing = true;
        // Lines a partial delivery already wrote are not written again (no duplicates on retry).
        const done = error instanceof PartialDelivery ? error.delivered : 0;
        this.queue.unshift(...batch.slice(done));
        this.options.reporter.error(describe(error instanceof PartialDelivery ? error.cause : error));
        this.wakeIdle();
        await this.waitRetry(retryDelay(failures, this.options.retryMs, this.options.retryMaxMs));
      }
    }
    this.running = false;
    this.wakeIdle();
  }

  private wakeIdle(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }

  private waitRetry(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.retryTimer = { timer: setTimeout(resolve, ms), resolve };
    });
  }

  private cancelRetry(): void {
    if (!this.retryTimer) return;
    clearTimeout(this.retryTimer.timer);
    this.retryTimer.resolve();
    this.retryTimer = undefined;
  }
}

/**
 * The wait before retry number `failures` (1-based): `baseMs` when there is no `maxMs`; otherwise
 * doubling from `baseMs` up to `maxMs`, with "equal jitter" (half fixed, half random).
 */
export function retryDelay(failures: number, baseMs: number, maxMs: number | undefined, random: () => number = Math.random): number {
  if (maxMs === undefined || maxMs <= baseMs) return baseMs;
  const step = Math.min(maxMs, baseMs * 2 ** Math.min(Math.max(failures - 1, 0), 30));
  return Math.max(baseMs, step / 2 + random() * (step / 2));
}

/** An error's message without its stack; secrets never reach here (callers pass codes and statuses). */
export function describe(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code && !error.message.includes(code) ? `${code}: ${error.message}` : error.message;
  }
  return String(error);
}

/** `deliver` failed after the first `delivered` lines got through. */
export class PartialDelivery extends Error {
  constructor(readonly delivered: number, override readonly cause: unknown) {
    super(describe(cause));
  }
}
