/**
 * A real HTTP event collector on loopback for the HTTP sink tests. It can be down (not listening),
 * slow (answers each request after a delay), blocked (never answers), failing (answers 503) or up. A
 * batch counts as received only when it was answered 2xx, as a SIEM would have indexed it.
 */
import http, { type IncomingHttpHeaders } from 'node:http';
import https from 'node:https';
import net, { type AddressInfo } from 'node:net';

export type CollectorMode = 'up' | 'slow' | 'blocked' | 'failing';

export interface ReceivedBatch {
  headers: IncomingHttpHeaders;
  body: string;
}

export class Collector {
  readonly accepted: ReceivedBatch[] = [];
  /** Requests seen in any mode (answered or not). */
  requestsSeen = 0;
  mode: CollectorMode = 'up';
  slowMs = 100;
  /** Bodies this answers 400 to (a SIEM refusing malformed content), whatever the mode. */
  rejects: ((body: string) => boolean) | undefined;
  /** Requests answered 400 by `rejects`. */
  rejected = 0;
  /** Set: every request is answered 307 to this URL (a collector that moved, or a hostile redirect). */
  redirectTo: string | undefined;
  /** False answers 401 (a token the SIEM does not take). */
  authorize: () => boolean = () => true;
  unauthorized = 0;
  private server: http.Server | undefined;
  private readonly waiters = new Set<() => void>();

  private constructor(
    readonly port: number,
    private readonly tls?: { key: Buffer; cert: Buffer },
  ) {}

  /** A collector with a port of its own, not listening yet (down); HTTPS when given a key and certificate. */
  static async reserve(tls?: { key: Buffer; cert: Buffer }): Promise<Collector> {
    const probe = net.createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const { port } = probe.address() as AddressInfo;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    return new Collector(port, tls);
  }

  get url(): string {
    return `${this.tls ? 'https' : 'http'}://127.0.0.1:${this.port}/collect`;
  }

  async up(mode: CollectorMode = 'up'): Promise<void> {
    this.mode = mode;
    if (this.server) return;
    const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        this.requestsSeen += 1;
        this.notify();
        const batch = { headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
        const answer = (): void => {
          if (res.destroyed) return;
          if (this.redirectTo !== undefined) {
            res.writeHead(307, { location: this.redirectTo }).end(() => this.notify());
            return;
          }
          if (!this.authorize()) {
            this.unauthorized += 1;
            res.writeHead(401).end('{"text":"Invalid token","code":4}', () => this.notify());
            return;
          }
          if (this.rejects?.(batch.body)) {
            this.rejected += 1;
            res.writeHead(400, { 'content-type': 'application/json' }).end('{"text":"Invalid data format","code":6}', () => this.notify());
            return;
          }
          if (this.mode === 'failing') {
            res.writeHead(503).end('try later');
            return;
          }
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end('{"text":"Success","code":0}', () => {
            this.accepted.push(batch);
            this.notify();
          });
        };
        if (this.mode === 'blocked') return;
        if (this.mode === 'slow') setTimeout(answer, this.slowMs);
        else answer();
      });
    };
    const server = this.tls ? https.createServer(this.tls, handler) : http.createServer(handler);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.server = server;
  }

  /** Stops listening and cuts every connection (requests in flight get no answer). */
  async down(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
  }

  /** Resolves when `condition` holds (checked after every request); rejects after `ms`. */
  waitUntil(condition: () => boolean, ms = 20_000): Promise<void> {
    if (condition()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (!condition()) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve();
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error('collector: condition not met in time'));
      }, ms);
      this.waiters.add(check);
    });
  }

  private notify(): void {
    for (const waiter of [...this.waiters]) waiter();
  }
}

/** The records of a `style: json` body (a JSON array). */
export function jsonRecords(batch: ReceivedBatch): unknown[] {
  const parsed: unknown = JSON.parse(batch.body);
  if (!Array.isArray(parsed)) throw new Error('body is not a JSON array');
  return parsed;
}

/** The events of a Splunk HEC body: JSON objects one after another, whitespace allowed between. */
export function hecEvents(batch: ReceivedBatch): unknown[] {
  const events: unknown[] = [];
  const text = batch.body;
  let start = 0;
  while (start < text.length) {
    while (start < text.length && /\s/.test(text[start] ?? '')) start += 1;
    if (start >= text.length) break;
    // Find the end of one JSON object by depth, skipping strings.
    let depth = 0;
    let inString = false;
    let end = start;
    for (; end < text.length; end += 1) {
      const char = text[end];
      if (inString) {
        if (char === '\\') end += 1;
        else if (char === '"') inString = false;
      } else if (char === '"') inString = true;
      else if (char === '{') depth += 1;
      else if (char === '}' && --depth === 0) break;
    }
    events.push(JSON.parse(text.slice(start, end + 1)));
    start = end + 1;
  }
  return events;
}
