import type { ChokepointConfig } from '../config/chokepoint-config.js';
import { compileFilter } from './filter.js';
import { formatterFor } from './format.js';
import { HttpSink } from './http-sink.js';
import { FileSink, StdoutSink } from './local-sinks.js';
import type { ManagedSink, QueueOptions } from './queued-sink.js';
import { SinkReporter, type EmitEvent } from './reporter.js';
import type { SinkConfig } from './sink-config.js';
import { SyslogSink } from './syslog-sink.js';
import { messageOf } from '../error-message.js';

/** Longest wait between reconnection attempts to a syslog server that stays down. */
const SYSLOG_RECONNECT_MAX_MS = 30_000;

/** A sink that cannot be set up (unreadable CA or token, unusable spool): the proxy does not start. */
export class SinkSetupError extends Error {}

export interface SinkTuning {
  /** Minimum time between two `sink.error` / `sink.dropped` reports of one sink (default 5 s). */
  reportIntervalMs?: number;
  /** Longest wait, when the proxy stops, for a syslog server that takes nothing (default 5 s). */
  flushTimeoutMs?: number;
}

/** Builds the configured sinks; on failure closes the ones already built and throws a SinkSetupError. */
export async function createSinks(config: Pick<ChokepointConfig, 'sinks' | 'stateDir'>, emit: EmitEvent, tuning: SinkTuning = {}): Promise<ManagedSink[]> {
  const sinks: ManagedSink[] = [];
  try {
    for (const sinkConfig of config.sinks) sinks.push(await createSink(sinkConfig, config.stateDir, emit, tuning));
  } catch (error) {
    await Promise.all(sinks.map((sink) => sink.close()));
    throw new SinkSetupError(messageOf(error));
  }
  return sinks;
}

async function createSink(config: SinkConfig, stateDir: string, emit: EmitEvent, tuning: SinkTuning): Promise<ManagedSink> {
  const reporter = new SinkReporter(config.name, emit, tuning.reportIntervalMs);
  const queue: QueueOptions = {
    name: config.name,
    accepts: compileFilter(config),
    queueMax: config.queueMax,
    batchMax: 1_000,
    retryMs: 1_000,
    reporter,
  };
  const formatter = formatterFor(config.format);
  switch (config.type) {
    case 'stdout':
      return new StdoutSink(queue, formatter);
    case 'file':
      return new FileSink(queue, formatter, { path: config.path, fsync: config.fsync === 'batch', ...(config.rotate ? { rotation: config.rotate } : {}) });
    case 'syslog':
      try {
        return new SyslogSink({ ...queue, batchMax: 100, retryMs: config.reconnectMs, retryMaxMs: Math.max(config.reconnectMs, SYSLOG_RECONNECT_MAX_MS), flushTimeoutMs: tuning.flushTimeoutMs ?? 5_000 }, formatter, config);
      } catch (error) {
        throw new Error(`sink ${config.name}: ${messageOf(error)}`);
      }
    case 'http':
      return HttpSink.create(queue, formatter, config, stateDir);
  }
}
