/**
 * What the hash chain costs the event bus: events per second through EventBus with and without the
 * chain, for a realistic flow.closed (TLS facts, tags, bytes), each with a sink that serialises the
 * event. Three variants, interleaved over rounds, medians reported:
 *
 *   - no chain,   sink JSON.stringify(event)           (the bus before the chain)
 *   - chain,      sink JSON.stringify(event)           (serialised twice: once to hash, once to write)
 *   - chain,      sink eventJson(event)                (the hashed text reused for writing)
 *
 *   npm run build && node dist/bench/event-chain.js
 */
import { pathToFileURL } from 'node:url';
import { EventBus, type EventSink } from '../src/events/bus.js';
import { eventJson } from '../src/events/chain.js';
import type { ChokepointEvent, EventInput } from '../src/events/types.js';

const EVENTS_PER_ROUND = 50_000;
const ROUNDS = 7;

const INPUT: EventInput = {
  name: 'flow.closed',
  kind: 'event',
  outcome: 'success',
  reason: 'closed',
  durationNs: 1_234_567_890,
  flowId: '1092efdd-4b1e-4a4e-9d0e-3f5c2a7b8c9d',
  agent: 'coder-7',
  agentMode: 'enforce',
  entry: 'connect',
  action: 'allow',
  ruleId: 'coder-7.allow.0',
  tags: { run: 'r1', episode: '4', step: '17', call: 'c9' },
  source: { ip: '10.8.0.7', port: 40744, bytes: 5_123 },
  destination: { domain: 'api.github.com', ip: '140.82.112.6', port: 443, bytes: 98_304 },
  resolved: ['140.82.112.6'],
  protocol: 'tls',
  classification: { tls: { sni: 'api.github.com', alpn: ['h2', 'http/1.1'], versions: ['1.3', '1.2'], ja4: 't13d1516h2_8daaf6152771_02713d6af862', ja3: 'cd08e31494f9531f560d64c695473da9' } },
};

interface Variant {
  name: string;
  chain: boolean;
  serialise: (event: ChokepointEvent) => string;
}

const VARIANTS: Variant[] = [
  { name: 'no chain, JSON.stringify', chain: false, serialise: (event) => JSON.stringify(event) },
  { name: 'chain, JSON.stringify', chain: true, serialise: (event) => JSON.stringify(event) },
  { name: 'chain, eventJson (reused)', chain: true, serialise: eventJson },
];

export interface EventChainResult {
  variant: string;
  eventsPerSecond: number;
  microsecondsPerEvent: number;
}

function round(variant: Variant): number {
  const bus = new EventBus({ chain: variant.chain });
  let bytes = 0;
  const sink: EventSink = { write: (event) => void (bytes += variant.serialise(event).length), flush: () => Promise.resolve() };
  bus.addSink(sink);
  const started = process.hrtime.bigint();
  for (let index = 0; index < EVENTS_PER_ROUND; index++) bus.emit(INPUT);
  const elapsedNs = Number(process.hrtime.bigint() - started);
  if (bytes === 0) throw new Error('nothing serialised');
  return elapsedNs / EVENTS_PER_ROUND;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

export function main(): EventChainResult[] {
  for (const variant of VARIANTS) round(variant); // warm-up: JIT and the crypto binding
  const samples = new Map<string, number[]>(VARIANTS.map((variant) => [variant.name, []]));
  for (let index = 0; index < ROUNDS; index++) {
    for (const variant of VARIANTS) samples.get(variant.name)?.push(round(variant));
  }
  return VARIANTS.map((variant) => {
    const ns = median(samples.get(variant.name) ?? []);
    return { variant: variant.name, eventsPerSecond: Math.round(1e9 / ns), microsecondsPerEvent: ns / 1000 };
  });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  for (const result of main()) {
    console.log(`${result.variant.padEnd(28)} ${String(result.eventsPerSecond).padStart(8)} events/s  ${result.microsecondsPerEvent.toFixed(2)} µs/event`);
  }
}
