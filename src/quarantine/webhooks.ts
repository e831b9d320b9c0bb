import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import { SECRET_REFERENCE, type QuarantineTransition, type WebhookConfig } from '../config/quarantine-config.js';
import type { EventBus } from '../events/bus.js';
import type { Tags } from '../events/types.js';
import { messageOf } from '../error-message.js';

/**
 * Tells webhooks (a trainer, an orchestrator) when an agent enters or leaves quarantine, so the job can
 * be paused. Deliveries run in the background: a slow or dead receiver never delays a flow, nor the
 * quarantine itself. Per hook and agent, notices go one at a time and in order, and a newer one
 * supersedes an older one still being retried: the receiver acts on the last notice it accepted, so that
 * must be the latest transition — and what waits is bounded (two notices per hook and agent). Each delivery is retried with exponential backoff a bounded number of times; when
 * it still fails, a `quarantine.webhook_failed` event says so. Secrets in headers are resolved per call
 * and never appear in events (nor does anything of the URL but its origin: path, query and user info may
 * hold a token).
 */

/** The JSON body each webhook receives. */
export interface QuarantineNotice {
  event: QuarantineTransition;
  agent: string;
  reason: string;
  /** The detection kind or budget that triggered it ("operator" for the CLI). */
  trigger?: string;
  /** The rule id that decided it, e.g. `detection.stratum`, `budget.bytes_out`. */
  rule?: string;
  flow_id?: string;
  tags?: Tags;
  since?: string;
  /** ISO time the quarantine lapses by itself; null = until released. */
  expires_at: string | null;
  /** ISO time of the transition. */
  at: string;
}

const MAX_BACKOFF_MS = 30_000;
/** A header secret is a token, not a document. */
const MAX_SECRET_BYTES = 64 * 1024;

interface Lane {
  /** The notice waiting for the one in delivery to finish; a newer one replaces it. */
  next: QuarantineNotice | undefined;
  /** Bumped by every notice, so a delivery can tell it was superseded and stop retrying. */
  generation: number;
}

export class WebhookNotifier {
  private readonly pending = new Set<Promise<void>>();
  /** Per hook (index) and agent: the delivery in progress, if any. */
  private readonly lanes = new Map<string, Lane>();
  private readonly timers = new Set<NodeJS.Timeout>();
  /** Aborts the requests in flight on stop, so that none holds the process up until its timeout. */
  private readonly abort = new AbortController();
  private stopped = false;

  constructor(
    private readonly hooks: readonly WebhookConfig[],
    private readonly events: EventBus,
  ) {}

  notify(notice: QuarantineNotice): void {
    if (this.stopped) return;
    this.hooks.forEach((hook, index) => {
      if (!hook.on.includes(notice.event)) return;
      const key = `${index} ${notice.agent}`;
      const busy = this.lanes.get(key);
      if (busy) {
        busy.next = notice;
        busy.generation += 1;
        return;
      }
      const lane: Lane = { next: undefined, generation: 0 };
      this.lanes.set(key, lane);
      const delivery = this.run(hook, lane, notice)
        .catch(() => undefined)
        .finally(() => this.lanes.delete(key));
      this.pending.add(delivery);
      void delivery.finally(() => this.pending.delete(delivery));
    });
  }

  /** Delivers the notice, then whatever superseded it meanwhile, until the lane is empty. */
  private async run(hook: WebhookConfig, lane: Lane, first: QuarantineNotice): Promise<void> {
    let notice: QuarantineNotice | undefined = first;
    while (notice && !this.stopped) {
      const generation = lane.generation;
      await this.deliver(hook, notice, () => lane.generation !== generation);
      notice = lane.next;
      lane.next = undefined;
    }
  }

  /** Resolves once every delivery started so far has succeeded or given up. */
  async idle(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }

  /** Abandons the retries still waiting and the requests in flight (shutdown). */
  stop(): void {
    this.stopped = true;
    this.abort.abort();
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }

  private async deliver(hook: WebhookConfig, notice: QuarantineNotice, superseded: () => boolean): Promise<void> {
    const body = JSON.stringify(notice);
    let lastError = '';
    const attempts = hook.retries + 1;
    for (let attempt = 1; attempt <= attempts; attempt += 1) {
      try {
        const headers = await resolveHeaders(hook.headers);
        const status = await post(hook.url, headers, body, hook.timeoutMs, this.abort.signal);
        if (status >= 200 && status < 300) {
          this.events.emit({ name: 'quarantine.webhook_delivered', kind: 'event', outcome: 'success', agent: notice.agent, details: { url: redactUrl(hook.url), transition: notice.event, attempts: attempt, status } });
          return;
        }
        lastError = `HTTP ${status}`;
      } catch (error) {
        lastError = messageOf(error);
      }
      // A newer notice for this agent replaces this one: no point retrying what is no longer true.
      if (superseded()) return;
      if (attempt === attempts || this.stopped) break;
      if (!(await this.pause(Math.min(hook.backoffMs * 2 ** (attempt - 1), MAX_BACKOFF_MS)))) break;
      if (superseded()) return;
    }
    this.events.emit({
      name: 'quarantine.webhook_failed',
      kind: 'alert',
      outcome: 'failure',
      agent: notice.agent,
      reason: `webhook ${redactUrl(hook.url)} not told that ${notice.agent} was ${notice.event}: ${lastError}`,
      details: { url: redactUrl(hook.url), transition: notice.event, attempts, error: lastError },
    });
  }

  /** Waits `ms`, unless stopped first; resolves to whether to go on. */
  private pause(ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        resolve(!this.stopped);
      }, ms);
      timer.unref();
      this.timers.add(timer);
    });
  }
}

/** `${env:NAME}` / `${file:/path}` replaced by their values (a file's trailing newline dropped). */
export async function resolveHeaders(templates: Record<string, string>): Promise<Record<string, string>> {
  const headers: Record<string, string> = {};
  for (const [name, template] of Object.entries(templates)) {
    let value = '';
    let from = 0;
    for (const match of template.matchAll(SECRET_REFERENCE)) {
      value += template.slice(from, match.index);
      value += await secret(match[1] ?? '', match[2] ?? '', name);
      from = match.index + match[0].length;
    }
    value += template.slice(from);
    if (/[\r\n]/.test(value)) throw new Error(`header ${name}: the referenced value spans several lines`);
    headers[name] = value;
  }
  return headers;
}

async function secret(kind: string, target: string, header: string): Promise<string> {
  if (kind === 'env') {
    const value = process.env[target];
    if (value === undefined) throw new Error(`header ${header}: environment variable ${target} is not set`);
    return value;
  }
  let handle: FileHandle | undefined;
  try {
    // Non-blocking open, then only a regular file of bounded size: a FIFO, a device (`/dev/zero`) or a
    // huge file named by mistake must not hang a libuv worker thread (the proxy's own file and DNS work
    // waits on those) nor fill the heap.
    handle = await open(target, constants.O_RDONLY | constants.O_NONBLOCK);
    const info = await handle.stat();
    if (!info.isFile()) throw new Error(`header ${header}: ${target} is not a regular file`);
    if (info.size > MAX_SECRET_BYTES) throw new Error(`header ${header}: ${target} is larger than ${MAX_SECRET_BYTES} bytes`);
    const buffer = Buffer.alloc(MAX_SECRET_BYTES);
    const { bytesRead } = await handle.read(buffer, 0, MAX_SECRET_BYTES, 0);
    return buffer.subarray(0, bytesRead).toString('utf8').replace(/\r?\n$/, '');
  } catch (error) {
    if (error instanceof Error && error.message.startsWith(`header ${header}:`)) throw error;
    const code = error instanceof Error && 'code' in error ? String(error.code) : 'unreadable';
    throw new Error(`header ${header}: cannot read ${target} (${code})`);
  } finally {
    await handle?.close();
  }
}

function post(url: string, headers: Record<string, string>, body: string, timeoutMs: number, signal: AbortSignal): Promise<number> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const request = (target.protocol === 'https:' ? https : http).request(target, {
      method: 'POST',
      signal,
      // No pooling: one short request per notice, and nothing left open to hold up a shutdown.
      agent: false,
      headers: { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), connection: 'close' },
    });
    const timer = setTimeout(() => request.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    request.on('response', (response) => {
      response.resume();
      response.on('end', () => {
        clearTimeout(timer);
        resolve(response.statusCode ?? 0);
      });
      response.on('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
    });
    request.on('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(new Error(error.code ?? error.message));
    });
    request.end(body);
  });
}

/**
 * The URL as events show it: its origin only. A token may sit in the user info, the query, or the path
 * itself (Slack- and Discord-style hook URLs are secrets end to end).
 */
export function redactUrl(url: string): string {
  return new URL(url).origin;
}
