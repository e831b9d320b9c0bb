import http from 'node:http';
import https from 'node:https';
import type { DeadLetterFile } from './dead-letter.js';
import type { Spool, SpoolBatch } from './spool.js';
import type { SinkReporter } from './reporter.js';
import { messageOf } from '../error-message.js';

/**
 * Answers that say "this content is wrong", not "try later" or "you are not let in": the batch will
 * never be taken as it is. Auth failures (401/403), a wrong path (404), throttling (429), redirects
 * (never followed: the token must not go to another host) and 5xx are retried forever instead, since
 * the operator can fix them and the events are fine; dead-lettering them would empty the spool.
 */
const REJECTED_STATUSES: ReadonlySet<number> = new Set([400, 413, 422]);

/** A single line rejected this many times in a row goes to the dead-letter file. */
export const REJECTIONS_BEFORE_DEAD_LETTER = 3;

type PostOutcome = { kind: 'delivered' } | { kind: 'failed'; problem: string } | { kind: 'rejected'; status: number; problem: string };

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
  /** Where a line rejected for good goes (see REJECTED_STATUSES). */
  deadLetter: DeadLetterFile;
}

/**
 * Delivers spooled lines in order, one batch in flight at a time, and acknowledges a batch only after a
 * 2xx: a refused, failed or timed-out batch is sent again (the same lines, from the spool) after an
 * exponential backoff with jitter, for as long as it takes. A batch rejected as malformed (400, 413,
 * 422) is halved until the line at fault is alone; that line, rejected REJECTIONS_BEFORE_DEAD_LETTER
 * times, moves to the dead-letter file (reported as `sink.dead_letter`) so the lines behind it flow. Nothing here ever waits on the proxy's
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
    this.loop ??= this.run().catch((error: unknown) => this.reporter.error(`sender stopped: ${messageOf(error)}`));
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
    /** Lines per batch: the configured maximum, halved while the collector rejects batches. */
    let limit = this.options.batch.maxEvents;
    let rejections = 0;
    while (!this.stopped) {
      if (this.spool.pendingLines === 0) {
        await this.sleep(undefined);
        continue;
      }
      // Gather a batch: send at once when it is full, otherwise after the interval.
      if (this.spool.pendingLines < this.options.batch.maxEvents && failures === 0 && rejections === 0 && limit === this.options.batch.maxEvents) {
        await this.sleep(this.options.batch.intervalMs, () => this.spool.pendingLines >= this.options.batch.maxEvents);
        if (this.stopped) break;
      }
      let batch;
      try {
        batch = await this.spool.read(limit, this.options.batch.maxBytes);
      } catch (error) {
        this.reporter.error(`spool read: ${messageOf(error)}`);
        await this.sleep(this.backoff(++failures));
        continue;
      }
      if (batch.lines.length === 0) {
        // Pending but unreadable for now (a line still being written, a segment dropped under the read):
        // look again shortly rather than wait for an append that may never come.
        await this.sleep(this.spool.pendingLines > 0 ? 10 : undefined);
        continue;
      }
      const outcome = await this.post(batch.lines);
      if (this.stopped) break;
      if (outcome.kind === 'delivered') {
        failures = 0;
        rejections = 0;
        limit = Math.min(this.options.batch.maxEvents, limit * 2);
        this.delivered += 1;
        await this.acknowledge(batch.end);
        continue;
      }
      this.reporter.error(outcome.problem);
      if (outcome.kind === 'failed') {
        await this.sleep(this.backoff(++failures));
        continue;
      }
      failures = 0;
      if (batch.lines.length > 1) {
        // Which line is at fault is unknown: halve until it is alone; the good halves go through.
        limit = Math.ceil(batch.lines.length / 2);
        rejections = 0;
        continue;
      }
      rejections += 1;
      if (rejections < REJECTIONS_BEFORE_DEAD_LETTER) {
        await this.sleep(this.backoff(rejections));
        continue;
      }
      rejections = 0;
      if (await this.setAside(batch.lines[0] ?? '', outcome.status)) await this.acknowledge(batch.end);
      else await this.sleep(this.backoff(++failures));
    }
  }

  /** Moves a line rejected for good to the dead-letter file; false when it could not be written (retried). */
  private async setAside(line: string, status: number): Promise<boolean> {
    let kept: boolean;
    try {
      kept = await this.options.deadLetter.append(line);
    } catch (error) {
      this.reporter.error(`dead-letter file: ${messageOf(error)}`);
      return false;
    }
    this.reporter.deadLettered(`HTTP ${status}`, kept);
    return true;
  }

  private async acknowledge(end: SpoolBatch['end']): Promise<void> {
    await this.spool.acknowledge(end).catch((error: unknown) =>
      this.reporter.error(`spool acknowledge: ${messageOf(error)}`),
    );
  }

  /**
   * POSTs one batch; what went wrong is said as a status or an error code (never a header: the token
   * must not reach an event). A collector that does not answer within `timeoutMs` (for the whole
   * exchange) is a failure like any other. Redirects are not followed.
   */
  private post(lines: string[]): Promise<PostOutcome> {
    const body = Buffer.from(this.options.body(lines));
    const transport = this.url.protocol === 'https:' ? https : http;
    return new Promise((resolve) => {
      let settled = false;
      const settle = (outcome: PostOutcome): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(outcome);
      };
      const fail = (problem: string): void => settle({ kind: 'failed', problem });
      const request = transport.request(
        this.url,
        { method: 'POST', agent: this.agent, headers: { ...this.options.headers, 'content-length': body.length }, signal: this.stopController.signal },
        (response) => {
          const status = response.statusCode ?? 0;
          // Read the answer to its end so the connection can carry the next batch.
          response.resume();
          response.once('end', () => {
            const problem = `receiver answered HTTP ${status}`;
            if (status >= 200 && status < 300) settle({ kind: 'delivered' });
            else if (REJECTED_STATUSES.has(status)) settle({ kind: 'rejected', status, problem: `${problem} (rejected ${lines.length} event(s))` });
            else fail(problem);
          });
          response.once('error', () => fail('receiver cut its answer short'));
        },
      );
      const timer = setTimeout(() => {
        fail(`receiver did not answer within ${this.options.timeoutMs} ms`);
        request.destroy();
      }, this.options.timeoutMs);
      request.once('error', (error: NodeJS.ErrnoException) => fail(`cannot deliver: ${error.code ?? error.message}`));
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
