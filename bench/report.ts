/** Renders one run as bench/RESULTS.md: machine, method, medians with ratios, targets, raw samples. */
import { readFile, writeFile } from 'node:fs/promises';
import { BASELINE, PEER, SUBJECT, checkGoals, type Verdict } from './goals.js';
import type { MachineInfo } from './machine.js';
import type { MemorySample } from './measure/idle-tunnel-memory.js';
import type { ClassifyCost } from './classify-cost.js';
import type { PolicyDecisionOutcome } from './measure/policy-decision.js';
import type { BenchSettings } from './options.js';
import { METRIC_ORDER, METRICS, type ResultSet } from './results.js';
import { ratio } from './stats.js';

export interface ReportInput {
  date: Date;
  durationS: number;
  machine: MachineInfo;
  httpTool: string;
  fdLimit: number;
  settings: BenchSettings;
  /** Idle tunnels actually requested (the setting, lowered if the fd limit is too small). */
  idleTunnels: number;
  results: ResultSet;
  memory: Array<{ target: string; sample: MemorySample }>;
  policy: PolicyDecisionOutcome;
  /** CPU per flow to classify the first flight of each protocol (bench/classify-cost.ts). */
  classifyCost: ClassifyCost[];
  /** Things the reader must know, e.g. a target that could not start. */
  notes: string[];
}

const COLUMNS = [BASELINE, PEER, SUBJECT];
const VERDICT_MARK: Record<Verdict, string> = { pass: '✅ pass', fail: '❌ fail', 'not measured': '— not measured' };

function formatNumber(value: number | null): string {
  if (value === null || !Number.isFinite(value)) return '—';
  const digits = Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : 2;
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function formatRatio(value: number | null): string {
  return value === null || !Number.isFinite(value) ? '—' : `${value.toFixed(2)}×`;
}

function table(header: string[], rows: string[][]): string[] {
  return [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...rows.map((row) => `| ${row.join(' | ')} |`)];
}

function machineSection(input: ReportInput): string[] {
  const { machine, settings } = input;
  return [
    '## Machine',
    '',
    `- CPU: ${machine.cpuModel}, **${machine.cores} cores**, ${machine.memoryGiB} GiB RAM, ${machine.kernel}`,
    `- Node ${machine.node}; Squid: ${machine.squid ?? 'not installed'}`,
    `- HTTP load generator: ${input.httpTool}`,
    `- Load average (1 min) when the run started: ${machine.loadAverageAtStart.toFixed(2)} ` +
      `(anything well above 0 means other work competed for the cores)`,
    `- Open-file limit for the bench's processes: ${input.fdLimit}`,
    `- Date: ${input.date.toISOString()}; run took ${Math.round(input.durationS)} s; ` +
      `${settings.quick ? 'quick mode' : 'full mode'}, ${settings.rounds} rounds`,
  ];
}

function methodSection(input: ReportInput): string[] {
  const { settings } = input;
  const MiB = settings.throughputBytes / 2 ** 20;
  return [
    '## Method',
    '',
    `All targets are measured in the same run, in **interleaved rounds** (each round measures every target, ` +
      `rotating their order); each figure is the **median** of the rounds, and ratios are taken between medians.`,
    `Everything runs on 127.0.0.1. The load generators, the proxy and the upstream servers are **separate ` +
      `processes** sharing the machine's ${input.machine.cores} cores (not pinned), so the figures are CPU-bound ` +
      `and a proxy's cost shows up as CPU taken from the others; compare ratios, not absolute numbers, across machines.`,
    '',
    `- **Tunnel throughput**: ${MiB} MiB pushed client → server through one CONNECT tunnel (direct: plain TCP) ` +
      `to a sink that acknowledges the last byte; MB/s = 10^6 bytes/s.`,
    `- **Tunnel setup**: CONNECT + 200 + one 5-byte echo round trip + close; ${settings.setupSequential.count} ` +
      `one after another, and ${settings.setupParallel.count} with ${settings.setupParallel.inFlight} in flight.`,
    `- **HTTP requests**: GET with keep-alive, ${settings.http.connections} connections for ${settings.http.durationS} s, ` +
      `absolute-URI requests through the proxy (direct: origin-form to the origin); small fixed 200 response.`,
    `- **Memory per idle tunnel**: a freshly started proxy, warmed up with 100 tunnels; RSS (VmRSS of the ` +
      `process tree) before and after opening ${input.idleTunnels} idle tunnels to an echo server, divided by ` +
      `the tunnels opened; ${settings.idle.rounds} round(s), each with a fresh proxy.`,
    `- **Policy decision**: bench/policy-decide.ts (100k rules), run in its own process.`,
    '',
    `Squid ${'`'}squid -N${'`'} runs with a generated config: no caching, no access log, localhost allowed, CONNECT to any ` +
      `port. Chokepoint runs ${'`'}dist/src/cli.js run${'`'} with one agent allowed 127.0.0.0/8 in enforce mode, events ` +
      `to a file, flow caps raised to 20,000 for the idle-tunnel test; everything else at its defaults.`,
  ];
}

function medianRow(input: ReportInput, id: (typeof METRIC_ORDER)[number]): string[] {
  const metric = METRICS[id];
  const medianOf = (target: string): number | null => input.results.median(id, target);
  const direct = metric.proxiesOnly ? null : medianOf(BASELINE);
  return [
    `${metric.title} (${metric.unit}, ${metric.better} is better)`,
    ...COLUMNS.map((target) => (metric.proxiesOnly && target === BASELINE ? 'n/a' : formatNumber(medianOf(target)))),
    formatRatio(ratio(medianOf(SUBJECT), direct)),
    formatRatio(ratio(medianOf(SUBJECT), medianOf(PEER))),
    formatRatio(ratio(medianOf(PEER), direct)),
  ];
}

function resultsSection(input: ReportInput): string[] {
  const header = ['Measurement', ...COLUMNS, `${SUBJECT} ÷ ${BASELINE}`, `${SUBJECT} ÷ ${PEER}`, `${PEER} ÷ ${BASELINE}`];
  return [
    `## Results (medians of ${input.settings.rounds} rounds)`,
    '',
    ...table(header, METRIC_ORDER.map((id) => medianRow(input, id))),
  ];
}

function goalsSection(input: ReportInput): string[] {
  const rows = checkGoals(input.results, input.policy).map((check) => [
    check.goal,
    check.measured,
    VERDICT_MARK[check.verdict],
  ]);
  return ['## Targets from the issue', '', ...table(['Target', 'Measured', 'Result'], rows)];
}

function policySection(policy: PolicyDecisionOutcome): string[] {
  const lines = ['## Policy decision', ''];
  if (policy.status === 'missing') return [...lines, 'bench/policy-decide.ts is not there yet: skipped.'];
  if (policy.status === 'failed') return [...lines, `Failed: ${policy.reason.split('\n')[0] ?? ''}`];
  const figure =
    policy.nsPerDecision === null
      ? 'no `nsPerDecision` figure found in its result'
      : `${formatNumber(policy.nsPerDecision)} ns per decision`;
  const raw = JSON.stringify(policy.raw, null, 2).slice(0, 2_000);
  return [...lines, `${figure}. What main() returned:`, '', '```json', raw, '```'];
}

function classifySection(costs: ClassifyCost[]): string[] {
  if (costs.length === 0) return [];
  const rows = costs.map((cost) => [cost.name, cost.protocol, cost.microsPerFlow.toFixed(1)]);
  return [
    '## Classification cost per flow',
    '',
    'CPU time of the FlowClassifier (every classifier side by side) on the first flight of a flow, median of three',
    'runs of 5,000 flows, measured in the bench process (bench/classify-cost.ts).',
    '',
    ...table(['First flight', 'Named', 'µs CPU per flow'], rows),
  ];
}

function memorySection(input: ReportInput): string[] {
  if (input.memory.length === 0) return [];
  const rows = input.memory.map(({ target, sample }) => [
    target,
    String(sample.tunnels),
    formatNumber(sample.rssBeforeKiB / 1024),
    formatNumber(sample.rssWithTunnelsKiB / 1024),
    formatNumber(sample.value),
  ]);
  const header = ['Target', 'Tunnels', 'RSS before (MiB)', 'RSS with tunnels (MiB)', 'KiB per tunnel'];
  return ['## Idle tunnel memory, per round', '', ...table(header, rows)];
}

function samplesSection(input: ReportInput): string[] {
  const rows = METRIC_ORDER.flatMap((id) =>
    COLUMNS.filter((target) => input.results.samples(id, target).length > 0).map((target) => [
      METRICS[id].title,
      target,
      input.results.samples(id, target).map(formatNumber).join(', '),
    ]),
  );
  return ['## All samples, in round order', '', ...table(['Measurement', 'Target', 'Samples'], rows)];
}

function problemsSection(input: ReportInput): string[] {
  const problems = input.results.problemList().map(({ text, count }) => `- ${text}${count > 1 ? ` (×${count})` : ''}`);
  const all = [...input.notes.map((note) => `- ${note}`), ...problems];
  return all.length === 0 ? [] : ['## Notes and problems seen', '', ...all];
}

export function renderReport(input: ReportInput): string {
  const sections = [
    ['# Chokepoint benchmark results', '', 'Written by `npm run bench` (bench/run.ts). Re-run it to refresh this file.'],
    machineSection(input),
    resultsSection(input),
    goalsSection(input),
    policySection(input.policy),
    classifySection(input.classifyCost),
    problemsSection(input),
    methodSection(input),
    memorySection(input),
    samplesSection(input),
  ];
  return `${sections
    .filter((section) => section.length > 0)
    .map((section) => section.join('\n'))
    .join('\n\n')}\n`;
}

/**
 * Writes the report, keeping the sections other bench scripts own (`<!-- NAME:start -->` …
 * `<!-- NAME:end -->`, e.g. the reverse-tunnel detection numbers): a full run must not erase them.
 */
export async function writeReport(file: string, input: ReportInput): Promise<void> {
  const previous = await readFile(file, 'utf8').catch(() => '');
  const kept = [...previous.matchAll(/<!-- ([a-z-]+):start -->[\s\S]*?<!-- \1:end -->/g)].map((match) => match[0]);
  const report = renderReport(input).trimEnd();
  await writeFile(file, kept.length > 0 ? `${report}\n\n${kept.join('\n\n')}\n` : `${report}\n`);
}
