import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { ChokepointEvent } from '../events/types.js';
import { DeadLetterFile } from './dead-letter.js';
import { formatLine, type EventFormatter } from './format.js';
import { HttpSender } from './http-sender.js';
import { QueuedSink, type QueueOptions } from './queued-sink.js';
import type { HttpSinkConfig } from './sink-config.js';
import { Spool } from './spool.js';

/**
 * Events POSTed in batches to an HTTP collector (`style: json`, a JSON array) or a Splunk HTTP Event
 * Collector (`style: splunk_hec`). Every event is first written to a durable spool under
 * `<state_dir>/spool/<sink name>`; a separate sender delivers from the spool and acknowledges only
 * after a 2xx. So a receiver that is down, slow or never answers costs disk (bounded by
 * `spool.max_bytes`, overflow reported by `sink.spool_overflow`), never the proxy's time.
 */
export class HttpSink extends QueuedSink {
  private constructor(
    options: QueueOptions,
    private readonly formatter: EventFormatter,
    private readonly config: HttpSinkConfig,
    private readonly spool: Spool,
    readonly sender: HttpSender,
  ) {
    super(options);
  }

  static async create(options: QueueOptions, formatter: EventFormatter, config: HttpSinkConfig, stateDir: string): Promise<HttpSink> {
    // Everything that can fail on a bad file is read before the spool (and its lock) is taken.
    const headers = requestHeaders(config);
    const ca = config.caFile ? readCaFile(config.name, config.caFile) : undefined;
    const spool = await Spool.open(path.join(stateDir, 'spool', config.name), {
      maxBytes: config.spool.maxBytes,
      segmentBytes: config.spool.segmentBytes,
      onWarning: (message) => options.reporter.error(message),
      onOverflow: (dropped) => options.reporter.spoolOverflow({ dropped_events: dropped.lines, dropped_bytes: dropped.bytes, max_bytes: config.spool.maxBytes }),
    });
    // Bounded like the spool: a collector that rejects everything cannot fill the disk through it.
    const deadLetter = new DeadLetterFile(path.join(spool.dir, 'dead-letter.jsonl'), config.spool.maxBytes);
    options.reporter.deadLetterFile = deadLetter.file;
    const sender = new HttpSender(
      spool,
      {
        url: config.url,
        headers,
        body: config.style === 'splunk_hec' ? (lines) => lines.join('\n') : (lines) => `[${lines.join(',')}]`,
        batch: config.batch,
        retry: config.retry,
        timeoutMs: config.timeoutMs,
        deadLetter,
        ...(ca ? { ca } : {}),
      },
      options.reporter,
    );
    const sink = new HttpSink(options, formatter, config, spool, sender);
    sender.start();
    return sink;
  }

  protected encode(event: ChokepointEvent): string {
    const line = formatLine(event, this.formatter);
    if (this.config.style === 'json') return line;
    // HEC's event envelope: epoch seconds with milliseconds, the record as `event`.
    const time = Date.parse(event['@timestamp']) / 1000;
    return `{"time":${time.toFixed(3)},"sourcetype":${JSON.stringify(this.config.sourcetype)},"source":"chokepoint","event":${line}}`;
  }

  protected deliver(lines: string[]): Promise<void> {
    return this.spool.append(lines);
  }

  protected async release(): Promise<void> {
    await this.sender.stop();
    await this.spool.close();
  }
}

/** Headers of every request; the token is read once, here, and only ever put in a header. */
function requestHeaders(config: HttpSinkConfig): Record<string, string> {
  const headers: Record<string, string> = { 'content-type': 'application/json', ...config.headers };
  for (const [name, variable] of Object.entries(config.headersFromEnv)) {
    const value = process.env[variable];
    if (value === undefined || value === '') throw new Error(`sink ${config.name}: environment variable ${variable} (headers_from_env.${name}) is not set`);
    headers[name] = value;
  }
  const token = readToken(config);
  if (token !== undefined) headers.authorization = config.style === 'splunk_hec' ? `Splunk ${token}` : `Bearer ${token}`;
  return headers;
}

function readCaFile(sink: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    throw new Error(`sink ${sink}: cannot read ca_file ${file}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`);
  }
}

function readToken(config: HttpSinkConfig): string | undefined {
  if (config.tokenEnv !== undefined) {
    const value = process.env[config.tokenEnv];
    if (value === undefined || value === '') throw new Error(`sink ${config.name}: environment variable ${config.tokenEnv} (token_env) is not set`);
    return value.trim();
  }
  if (config.tokenFile !== undefined) {
    let value: string;
    try {
      value = readFileSync(config.tokenFile, 'utf8').trim();
    } catch (error) {
      throw new Error(`sink ${config.name}: cannot read token_file ${config.tokenFile}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`);
    }
    if (value === '') throw new Error(`sink ${config.name}: token_file ${config.tokenFile} is empty`);
    return value;
  }
  return undefined;
}
