/**
 * Events per second the proxy's event bus can emit into one sink: the HTTP sink with its collector down
 * (every event goes to the durable spool and stays there) against the stdout sink (to /dev/null when
 * stdout is redirected there) and the rotating file sink. Two numbers per sink: the rate of `emit` calls
 * (the cost on the proxy's hot path: encode + queue) and the end-to-end rate until the sink has written
 * everything (spool / file / stdout). `node dist/bench/sink-throughput.js [EVENTS] > /dev/null` (medians of interleaved rounds); the
 * table goes to stderr.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { EventBus } from '../src/events/bus.js';
import type { EventInput } from '../src/events/types.js';
import { createSinks } from '../src/sinks/create-sinks.js';
import type { SinkConfig } from '../src/sinks/sink-config.js';

/** A realistic flow.closed event (the most frequent one). */
const SAMPLE: EventInput = {
  name: 'flow.closed',
  kind: 'event',
  outcome: 'success',
  flowId: 'f-0123456789abcdef',
  agent: 'coder-7',
  entry: 'connect',
  action: 'allow',
  ruleId: 'coder-7.allow.2',
  tags: { run: 'r-42', step: '17' },
  source: { ip: '10.0.3.7', port: 51234, bytes: 1832 },
  destination: { ip: '140.82.112.3', port: 443, domain: 'api.github.com', bytes: 48211 },
  protocol: 'tls',
  classification: { tls: { sni: 'api.github.com', alpn: ['h2', 'http/1.1'], ja4: 't13d1516h2_8daaf6152771_e5627efa2ab1' } },
  durationNs: 183_000_000,
};

async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

interface Result {
  sink: string;
  emitPerSecond: number;
  writtenPerSecond: number;
}

async function measure(label: string, sink: SinkConfig, stateDir: string, events: number): Promise<Result> {
  const bus = new EventBus();
  const [created] = await createSinks({ sinks: [sink], stateDir }, () => undefined);
  if (!created) throw new Error('no sink');
  bus.addSink(created);
  const start = process.hrtime.bigint();
  // In slices, yielding between them, as a proxy's event loop does between flows.
  for (let done = 0; done < events; done += 1_000) {
    for (let i = 0; i < 1_000; i += 1) bus.emit(SAMPLE);
    await new Promise((resolve) => setImmediate(resolve));
  }
  const emitted = process.hrtime.bigint();
  await bus.flush();
  const written = process.hrtime.bigint();
  await created.close();
  const seconds = (from: bigint, to: bigint): number => Number(to - from) / 1e9;
  return { sink: label, emitPerSecond: events / seconds(start, emitted), writtenPerSecond: events / seconds(start, written) };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

/** Rounds interleave the sinks, so load from other work on the machine hits each about equally. */
export async function main(events = 100_000, rounds = 5): Promise<Result[]> {
  const dir = await mkdtemp(path.join(tmpdir(), 'chokepoint-sink-bench-'));
  const common = { format: 'ecs', queueMax: events + 10 } as const;
  const collectorPort = await closedPort();
  const sinks: Array<[string, (round: number) => SinkConfig]> = [
    ['stdout', () => ({ ...common, type: 'stdout', name: 'stdout' })],
    ['file (rotating, no fsync)', (round) => ({ ...common, type: 'file', name: 'file', path: path.join(dir, `events-${round}.jsonl`), fsync: 'none', rotate: { maxBytes: 64 * 1024 * 1024, daily: false, keep: 10 } })],
    [
      'http, collector down (spooling)',
      (round) => ({
        ...common,
        type: 'http',
        name: `http-${round}`,
        url: `http://127.0.0.1:${collectorPort}/`,
        style: 'json',
        sourcetype: 'chokepoint',
        headers: {},
        headersFromEnv: {},
        batch: { maxEvents: 500, maxBytes: 1_048_576, intervalMs: 1_000 },
        retry: { initialMs: 500, maxMs: 30_000 },
        timeoutMs: 10_000,
        spool: { maxBytes: 1024 * 1024 * 1024, segmentBytes: 4 * 1024 * 1024 },
      }),
    ],
  ];
  try {
    const samples = new Map<string, Result[]>(sinks.map(([label]) => [label, []]));
    for (let round = 0; round < rounds; round += 1) {
      for (const [label, config] of sinks) samples.get(label)?.push(await measure(label, config(round), dir, events));
    }
    const results = sinks.map(([label]): Result => {
      const runs = samples.get(label) ?? [];
      return { sink: label, emitPerSecond: median(runs.map((run) => run.emitPerSecond)), writtenPerSecond: median(runs.map((run) => run.writtenPerSecond)) };
    });
    process.stderr.write(`${events.toLocaleString('en')} events per run, medians of ${rounds} interleaved rounds\n\n`);
    process.stderr.write(`| sink | emit calls (events/s) | written end to end (events/s) |\n|---|---|---|\n`);
    for (const result of results) {
      process.stderr.write(`| ${result.sink} | ${Math.round(result.emitPerSecond).toLocaleString('en')} | ${Math.round(result.writtenPerSecond).toLocaleString('en')} |\n`);
    }
    return results;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) {
  const count = Number(process.argv[2] ?? 100_000);
  main(Number.isSafeInteger(count) && count > 0 ? count : 100_000).catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  });
}
