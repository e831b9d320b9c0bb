import http from 'node:http';
import https from 'node:https';
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
  /** CA certificates (PEM) trusted for an https:// collector instead of the system store. */
  ca?: Buffer;
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
  private readonly url: URL;
  /** One kept-alive connection: batches go one at a time anyway, and in order. */
  private readonly agent: http.Agent;
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
    this.url = new URL(options.url);
    this.agent =
      this.url.protocol === 'https:'
        ? new https.Agent({ keepAlive: true, maxSockets: 1, ...(options.ca ? { ca: options.ca } : {}) })
        : new http.Agent({ keepAlive: true, maxSockets: 1 });
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
    this.agent.destroy();
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

  /**
   * POSTs one batch. Undefined on a 2xx; otherwise what went wrong, as a status or an error code (never
   * a header: the token must not reach an event). A collector that does not answer within `timeoutMs`
   * (for the whole exchange) is a failure like any other.
   */
  private post(lines: string[]): Promise<string | undefined> {
    const body = Buffer.from(this.options.body(lines));
    const transport = this.url.protocol === 'https:' ? https : http;
    return new Promise((resolve) => {
      let settled = false;
      const settle = (problem: string | undefined): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(problem);
      };
      const request = transport.request(
        this.url,
        { method: 'POST', agent: this.agent, headers: { ...this.options.headers, 'content-length': body.length }, signal: this.stopController.signal },
        (response) => {
          const status = response.statusCode ?? 0;
          // Read the answer to its end so the connection can carry the next batch.
          response.resume();
          response.once('end', () => settle(status >= 200 && status < 300 ? undefined : `receiver answered HTTP ${status}`));
          response.once('error', () => settle('receiver cut its answer short'));
        },
      );
      const timer = setTimeout(() => {
        settle(`receiver did not answer within ${this.options.timeoutMs} ms`);
        request.destroy();
      }, this.options.timeoutMs);
      request.once('error', (error: NodeJS.ErrnoException) => settle(`cannot deliver: ${error.code ?? error.message}`));
      request.end(body);
    });
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
