import type { Spool } from './spool.js';
import type { SinkReporter } from './reporter.js';

export interface SenderOptions {
  url: string;
  headers: Record<string, string>;
  /** Builds the request body from spooled lines (a JSON array, or concatenated HEC events). */
  body: (lines: string[]) => string;
  batch: { maxEvents: number; maxBytes: number; intervalMs: number };
  retry: { initialMs: number; maxMs: number };
  timeoutMs: number;
}

/**
 * Delivers spooled lines in order, one batch in flight at a time, and acknowledges a batch only after a
 * 2xx: a refused, failed or timed-out batch is sent again (the same lines, from the spool) after an
 * exponential backoff with jitter, for as long as it takes. Nothing here ever waits on the proxy's
 * hot path: the proxy only appends to the spool.
 */
export class HttpSender {
  private stopped = false;
  private readonly stopController = new AbortController();
  private wake: (() => void) | undefined;
  private loop: Promise<void> | undefined;
  /** Batches acknowledged (a 2xx), for tests and the bench. */
  delivered = 0;

  constructor(
    private readonly spool: Spool,
    private readonly options: SenderOptions,
    private readonly reporter: SinkReporter,
  ) {
    spool.onAppend(() => this.wake?.());
  }

  start(): void {
    // The loop handles its own failures; this catch is the last guard so a bug cannot crash the proxy.
    this.loop ??= this.run().catch((error: unknown) => this.reporter.error(`sender stopped: ${error instanceof Error ? error.message : String(error)}`));
  }

  /** Stops sending; an unacknowledged batch in flight is aborted and stays in the spool. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.stopController.abort();
    this.wake?.();
    await this.loop;
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.stopped) {
      if (this.spool.pendingLines === 0) {
        await this.sleep(undefined);
        continue;
      }
      // Gather a batch: send at once when it is full, otherwise after the interval.
      if (this.spool.pendingLines < this.options.batch.maxEvents && failures === 0) {
        await this.sleep(this.options.batch.intervalMs, () => this.spool.pendingLines >= this.options.batch.maxEvents);
        if (this.stopped) break;
      }
      let batch;
      try {
        batch = await this.spool.read(this.options.batch.maxEvents, this.options.batch.maxBytes);
      } catch (error) {
        this.reporter.error(`spool read: ${error instanceof Error ? error.message : String(error)}`);
        await this.sleep(this.backoff(++failures));
        continue;
      }
      if (batch.lines.length === 0) {
        // Pending but unreadable for now (a line still being written, a segment dropped under the read):
        // look again shortly rather than wait for an append that may never come.
        await this.sleep(this.spool.pendingLines > 0 ? 10 : undefined);
        continue;
      }
      const problem = await this.post(batch.lines);
      if (this.stopped) break;
      if (problem === undefined) {
        failures = 0;
        this.delivered += 1;
        await this.spool.acknowledge(batch.end).catch((error: unknown) =>
          this.reporter.error(`spool acknowledge: ${error instanceof Error ? error.message : String(error)}`),
        );
      } else {
        this.reporter.error(problem);
        await this.sleep(this.backoff(++failures));
      }
    }
  }

  /** Undefined on a 2xx; otherwise what went wrong, without URL credentials or headers. */
  private async post(lines: string[]): Promise<string | undefined> {
    try {
      const response = await fetch(this.options.url, {
        method: 'POST',
        headers: this.options.headers,
        body: this.options.body(lines),
        signal: AbortSignal.any([this.stopController.signal, AbortSignal.timeout(this.options.timeoutMs)]),
      });
      // Drain the body so the connection can be reused.
      await response.arrayBuffer().catch(() => undefined);
      if (response.status >= 200 && response.status < 300) return undefined;
      return `receiver answered HTTP ${response.status}`;
    } catch (error) {
      if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')) {
        return `receiver did not answer within ${this.options.timeoutMs} ms`;
      }
      const cause = error instanceof Error && error.cause instanceof Error ? error.cause : error;
      const code = (cause as NodeJS.ErrnoException).code;
      return `cannot deliver: ${code ?? (cause instanceof Error ? cause.message : String(cause))}`;
    }
  }

  /** Exponential backoff with "equal jitter": half the step fixed, half random, capped at max. */
  private backoff(failures: number): number {
    const step = Math.min(this.options.retry.maxMs, this.options.retry.initialMs * 2 ** Math.min(failures - 1, 30));
    return step / 2 + Math.random() * (step / 2);
  }

  /** Sleeps `ms` (forever when undefined) or until an append makes `until` true, or stop. */
  private sleep(ms: number | undefined, until: () => boolean = () => true): Promise<void> {
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const done = (): void => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
      if (ms !== undefined) timer = setTimeout(done, ms);
      this.wake = () => {
        if (this.stopped || until()) done();
      };
    });
  }
}
