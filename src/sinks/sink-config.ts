/**
 * The `sinks:` list of the config file: where events go besides (or instead of) stdout. Keys are
 * snake_case in YAML, camelCase in the SinkConfig it produces. Relative paths come out as written;
 * `resolveSinkPaths` makes them absolute against the config file's directory.
 */
import path from 'node:path';
import { z } from 'zod';
import type { EventFormat } from './format.js';
import { SEVERITIES, type Severity } from './severity.js';

const MAX_TIMER_MS = 2_147_483_647;
const positive = (fallback: number) => z.int().min(1).default(fallback);
const timerMs = (fallback: number) => z.int().min(1).max(MAX_TIMER_MS).default(fallback);
const nonEmpty = (key: string) => z.string().min(1, `${key} is empty`);

/** RFC 5424 facility names (section 6.2.1) → codes. */
export const FACILITIES: Record<string, number> = {
  kern: 0, user: 1, mail: 2, daemon: 3, auth: 4, syslog: 5, lpr: 6, news: 7, uucp: 8, cron: 9,
  authpriv: 10, ftp: 11, ntp: 12, security: 13, console: 14, solaris_cron: 15,
  local0: 16, local1: 17, local2: 18, local3: 19, local4: 20, local5: 21, local6: 22, local7: 23,
};

/** Largest UDP payload over IPv4 (65,535 minus the IP and UDP headers). */
const UDP_PAYLOAD_MAX = 65_507;

/**
 * What a receiver takes without cutting on its own: RFC 5426 asks every UDP receiver for 2048 octets
 * (more is fragmented and often cut); over TCP / TLS 8 KiB, rsyslog's default maxMessageSize — past
 * its limit a receiver truncates, or with octet counting may lose the framing of what follows.
 */
export function syslogMessageLimit(config: Pick<SyslogSinkConfig, 'transport' | 'maxMessageBytes'>): number {
  return config.maxMessageBytes ?? (config.transport === 'udp' ? 2048 : 8192);
}

const headerName = z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'not an HTTP header name');

const common = {
  /** Names the sink in its events and its spool directory; default `<type>-<position>`. */
  name: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'name must be 1-64 letters, digits, "_", "." or "-"').optional(),
  format: z.enum(['ecs', 'ocsf']).default('ecs'),
  min_severity: z.enum(SEVERITIES).optional(),
  events: z.array(nonEmpty('an event glob')).min(1, 'events is empty; leave it out for every event').optional(),
  exclude_events: z.array(nonEmpty('an event glob')).optional(),
  /** Events held in memory while the destination is slow; beyond it they are dropped and counted. */
  queue_max: positive(10_000),
};

const stdoutSink = z.strictObject({ type: z.literal('stdout'), ...common });

const fileSink = z.strictObject({
  type: z.literal('file'),
  ...common,
  path: nonEmpty('path'),
  rotate: z
    .strictObject({
      max_bytes: z.int().min(1024).optional(),
      daily: z.boolean().default(false),
      keep: positive(7),
    })
    .optional(),
  /** `batch`: fsync after every batch written (survives a power cut); `none`: leave it to the OS. */
  fsync: z.enum(['none', 'batch']).default('none'),
});

const syslogSink = z
  .strictObject({
    type: z.literal('syslog'),
    ...common,
    transport: z.enum(['udp', 'tcp', 'tls']).default('udp'),
    host: nonEmpty('host').default('127.0.0.1'),
    port: z.int().min(1).max(65_535).optional(),
    facility: z
      .union([z.int().min(0).max(23), z.string()])
      .default('local0')
      .transform((value, ctx) => {
        if (typeof value === 'number') return value;
        const code = FACILITIES[value];
        if (code === undefined) {
          ctx.addIssue({ code: 'custom', message: `unknown facility ${JSON.stringify(value)}; use local0..local7, daemon, … or 0-23` });
          return z.NEVER;
        }
        return code;
      }),
    app_name: z.string().regex(/^[!-~]{1,48}$/, 'app_name must be 1-48 printable ASCII characters').default('chokepoint'),
    ca_file: nonEmpty('ca_file').optional(),
    cert_file: nonEmpty('cert_file').optional(),
    key_file: nonEmpty('key_file').optional(),
    reconnect_ms: timerMs(1_000),
    /** A TCP / TLS server that takes no bytes for this long is given up on: the connection is re-opened. */
    write_timeout_ms: timerMs(30_000),
    /** Longest message sent (octets, header included); longer ones are cut. Default: see syslogMessageLimit. */
    max_message_bytes: z.int().min(480).max(1_048_576).optional(),
  })
  .superRefine((sink, ctx) => {
    if (sink.transport !== 'tls') {
      for (const key of ['ca_file', 'cert_file', 'key_file'] as const) {
        if (sink[key] !== undefined) ctx.addIssue({ code: 'custom', message: `${key} needs transport: tls`, path: [key] });
      }
    }
    if (sink.transport === 'udp' && sink.max_message_bytes !== undefined && sink.max_message_bytes > UDP_PAYLOAD_MAX) {
      ctx.addIssue({ code: 'custom', message: `max_message_bytes above ${UDP_PAYLOAD_MAX} does not fit a UDP datagram; use transport tcp or tls`, path: ['max_message_bytes'] });
    }
    if ((sink.cert_file === undefined) !== (sink.key_file === undefined)) {
      ctx.addIssue({ code: 'custom', message: 'cert_file and key_file go together', path: [sink.cert_file ? 'key_file' : 'cert_file'] });
    }
  });

const httpSink = z
  .strictObject({
    type: z.literal('http'),
    ...common,
    url: z.url({ protocol: /^https?$/, error: 'url must be an http:// or https:// URL' }),
    style: z.enum(['json', 'splunk_hec']).default('json'),
    sourcetype: nonEmpty('sourcetype').default('chokepoint'),
    headers: z.record(headerName, z.string()).default({}),
    /** Header name → environment variable holding its value (API keys that must not sit in the file). */
    headers_from_env: z.record(headerName, nonEmpty('an environment variable name')).default({}),
    /** The secret: read from an environment variable or a file, never written in the config. */
    token_env: nonEmpty('token_env').optional(),
    token_file: nonEmpty('token_file').optional(),
    /** CA file (PEM) for an https:// collector with a private CA. */
    ca_file: nonEmpty('ca_file').optional(),
    batch: z
      .strictObject({
        max_events: positive(500),
        max_bytes: z.int().min(1024).default(1_048_576),
        interval_ms: timerMs(1_000),
      })
      .prefault({}),
    retry: z
      .strictObject({ initial_ms: timerMs(500), max_ms: timerMs(30_000) })
      .prefault({}),
    timeout_ms: timerMs(10_000),
    spool: z
      .strictObject({
        max_bytes: z.int().min(4096).default(256 * 1024 * 1024),
        segment_bytes: z.int().min(1024).optional(),
      })
      .prefault({}),
  })
  .superRefine((sink, ctx) => {
    const url = new URL(sink.url);
    if (url.username !== '' || url.password !== '') {
      // They would end up in error messages; secrets belong in token_env / token_file / headers_from_env.
      ctx.addIssue({ code: 'custom', message: 'url must not hold credentials; use token_env, token_file or headers_from_env', path: ['url'] });
    }
    if (sink.ca_file !== undefined && url.protocol !== 'https:') {
      ctx.addIssue({ code: 'custom', message: 'ca_file needs an https:// url', path: ['ca_file'] });
    }
    if (sink.token_env !== undefined && sink.token_file !== undefined) {
      ctx.addIssue({ code: 'custom', message: 'give token_env or token_file, not both', path: ['token_file'] });
    }
    if (sink.retry.initial_ms > sink.retry.max_ms) {
      ctx.addIssue({ code: 'custom', message: 'retry.initial_ms is above retry.max_ms', path: ['retry', 'initial_ms'] });
    }
  });

const sinkSchema = z.discriminatedUnion('type', [stdoutSink, fileSink, syslogSink, httpSink], {
  error: (issue) =>
    issue.code === 'invalid_union' ? 'type must be one of "stdout", "file", "syslog", "http"' : undefined,
});

interface SinkCommon {
  name: string;
  format: EventFormat;
  minSeverity?: Severity;
  events?: string[];
  excludeEvents?: string[];
  queueMax: number;
}

export type StdoutSinkConfig = SinkCommon & { type: 'stdout' };
export type FileSinkConfig = SinkCommon & {
  type: 'file';
  path: string;
  rotate?: { maxBytes?: number; daily: boolean; keep: number };
  fsync: 'none' | 'batch';
};
export type SyslogSinkConfig = SinkCommon & {
  type: 'syslog';
  transport: 'udp' | 'tcp' | 'tls';
  host: string;
  port: number;
  facility: number;
  appName: string;
  caFile?: string;
  certFile?: string;
  keyFile?: string;
  reconnectMs: number;
  /** Absent: 30 s. */
  writeTimeoutMs?: number;
  /** Absent: the transport's default (syslogMessageLimit). */
  maxMessageBytes?: number;
};
export type HttpSinkConfig = SinkCommon & {
  type: 'http';
  url: string;
  style: 'json' | 'splunk_hec';
  sourcetype: string;
  headers: Record<string, string>;
  headersFromEnv: Record<string, string>;
  tokenEnv?: string;
  tokenFile?: string;
  caFile?: string;
  batch: { maxEvents: number; maxBytes: number; intervalMs: number };
  retry: { initialMs: number; maxMs: number };
  timeoutMs: number;
  spool: { maxBytes: number; segmentBytes: number };
};
export type SinkConfig = StdoutSinkConfig | FileSinkConfig | SyslogSinkConfig | HttpSinkConfig;

type RawSink = z.output<typeof sinkSchema>;

export const sinksSchema = z
  .array(sinkSchema)
  .default([])
  .superRefine((sinks, ctx) => {
    const seen = new Set<string>();
    sinks.forEach((sink, index) => {
      const name = sink.name ?? `${sink.type}-${index}`;
      if (seen.has(name)) ctx.addIssue({ code: 'custom', message: `sink name ${JSON.stringify(name)} is used twice`, path: [index, 'name'] });
      seen.add(name);
    });
  })
  .transform((sinks) => sinks.map(toSinkConfig));

function toSinkConfig(raw: RawSink, index: number): SinkConfig {
  const common: SinkCommon = {
    name: raw.name ?? `${raw.type}-${index}`,
    format: raw.format,
    queueMax: raw.queue_max,
    ...(raw.min_severity ? { minSeverity: raw.min_severity } : {}),
    ...(raw.events ? { events: raw.events } : {}),
    ...(raw.exclude_events ? { excludeEvents: raw.exclude_events } : {}),
  };
  switch (raw.type) {
    case 'stdout':
      return { ...common, type: 'stdout' };
    case 'file':
      return {
        ...common,
        type: 'file',
        path: raw.path,
        fsync: raw.fsync,
        ...(raw.rotate
          ? { rotate: { daily: raw.rotate.daily, keep: raw.rotate.keep, ...(raw.rotate.max_bytes ? { maxBytes: raw.rotate.max_bytes } : {}) } }
          : {}),
      };
    case 'syslog':
      return {
        ...common,
        type: 'syslog',
        transport: raw.transport,
        host: raw.host,
        // 514 for UDP and TCP (RFC 5426, RFC 6587), 6514 for TLS (RFC 5425).
        port: raw.port ?? (raw.transport === 'tls' ? 6514 : 514),
        facility: raw.facility,
        appName: raw.app_name,
        reconnectMs: raw.reconnect_ms,
        writeTimeoutMs: raw.write_timeout_ms,
        ...(raw.max_message_bytes ? { maxMessageBytes: raw.max_message_bytes } : {}),
        ...(raw.ca_file ? { caFile: raw.ca_file } : {}),
        ...(raw.cert_file ? { certFile: raw.cert_file } : {}),
        ...(raw.key_file ? { keyFile: raw.key_file } : {}),
      };
    case 'http':
      return {
        ...common,
        type: 'http',
        url: raw.url,
        style: raw.style,
        sourcetype: raw.sourcetype,
        headers: raw.headers,
        headersFromEnv: raw.headers_from_env,
        batch: { maxEvents: raw.batch.max_events, maxBytes: raw.batch.max_bytes, intervalMs: raw.batch.interval_ms },
        retry: { initialMs: raw.retry.initial_ms, maxMs: raw.retry.max_ms },
        timeoutMs: raw.timeout_ms,
        spool: {
          maxBytes: raw.spool.max_bytes,
          // Overflow drops whole segments, so a segment is a small part of the bound.
          segmentBytes: raw.spool.segment_bytes ?? Math.max(1024, Math.min(4 * 1024 * 1024, Math.floor(raw.spool.max_bytes / 8))),
        },
        ...(raw.token_env ? { tokenEnv: raw.token_env } : {}),
        ...(raw.token_file ? { tokenFile: raw.token_file } : {}),
        ...(raw.ca_file ? { caFile: raw.ca_file } : {}),
      };
  }
}

/** Makes the sinks' file paths absolute against `baseDir` (the config file's directory). */
export function resolveSinkPaths(sinks: SinkConfig[], baseDir: string): SinkConfig[] {
  const resolve = (file: string | undefined): string | undefined => (file === undefined ? undefined : path.resolve(baseDir, file));
  return sinks.map((sink) => {
    switch (sink.type) {
      case 'file':
        return { ...sink, path: path.resolve(baseDir, sink.path) };
      case 'syslog': {
        const caFile = resolve(sink.caFile);
        const certFile = resolve(sink.certFile);
        const keyFile = resolve(sink.keyFile);
        return { ...sink, ...(caFile ? { caFile } : {}), ...(certFile ? { certFile } : {}), ...(keyFile ? { keyFile } : {}) };
      }
      case 'http': {
        const tokenFile = resolve(sink.tokenFile);
        const caFile = resolve(sink.caFile);
        return { ...sink, ...(tokenFile ? { tokenFile } : {}), ...(caFile ? { caFile } : {}) };
      }
      default:
        return sink;
    }
  });
}
