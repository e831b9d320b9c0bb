/**
 * `npm run bench`: Chokepoint vs direct vs Squid, measured in one run with interleaved rounds, written to
 * bench/RESULTS.md. Options: --rounds N, --quick, --targets direct,squid,chokepoint, --out FILE.
 *
 * Phases: start the upstream servers and every target; warm up; R rounds of measurements 1–3 (each round
 * visits every target, rotating the order); stop the targets; measurement 4 (idle-tunnel memory) on fresh
 * proxy instances; the policy-decision micro-benchmark; the report. Whatever happens, cleanups stop every
 * process the bench started.
 */
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { cleanUpOnSignals, runCleanups } from './lifecycle.js';
import { describeMachine } from './machine.js';
import { chooseHttpLoadTool } from './measure/choose-http-tool.js';
import { measureIdleTunnelMemory, type MemorySample } from './measure/idle-tunnel-memory.js';
import { main as measureClassifyCost } from './classify-cost.js';
import { measurePolicyDecision } from './measure/policy-decision.js';
import { parseOptions, USAGE, type BenchSettings } from './options.js';
import { childFdLimit } from './proc/spawn.js';
import type { UpstreamEndpoints } from './protocol.js';
import { renderReport, writeReport, type ReportInput } from './report.js';
import { METRICS, ResultSet } from './results.js';
import { ALL_TARGETS } from './targets/index.js';
import { runTransparentBench } from './transparent.js';
import type { BenchTarget, RunningTarget } from './targets/types.js';
import { launchUpstream } from './upstream/launch.js';
import { workloads, type Workload } from './workloads.js';

/** Descriptors a proxy needs besides two per tunnel (listeners, logs, DNS, slack). */
const FD_OVERHEAD = 512;

const began = Date.now();
function log(text: string): void {
  process.stderr.write(`[${((Date.now() - began) / 1000).toFixed(0).padStart(4)} s] ${text}\n`);
}

function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0] ?? '';
}

interface Started {
  target: BenchTarget;
  running: RunningTarget;
}

async function startTargets(names: string[], notes: string[]): Promise<Started[]> {
  const started: Started[] = [];
  for (const target of ALL_TARGETS.filter((candidate) => names.includes(candidate.name))) {
    try {
      started.push({ target, running: await target.start() });
      log(`started ${target.name}`);
    } catch (error) {
      notes.push(`${target.name} not measured: ${firstLine(error)}`);
      log(`could not start ${target.name}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  return started;
}

/** `list` rotated left by `by`, so each round starts with a different target. */
function rotated<T>(list: readonly T[], by: number): T[] {
  const shift = list.length === 0 ? 0 : by % list.length;
  return [...list.slice(shift), ...list.slice(0, shift)];
}

/** One pass of every workload over every target; `results` null for the warm-up, whose figures are dropped. */
async function runRound(
  label: string,
  round: number,
  list: Workload[],
  targets: RunningTarget[],
  results: ResultSet | null,
): Promise<void> {
  for (const workload of list) {
    for (const target of rotated(targets, round)) {
      const metric = METRICS[workload.metric];
      try {
        const sample = await workload.run(target);
        results?.record(workload.metric, target.name, sample);
        const problem = sample.problem === undefined ? '' : `  (${sample.problem})`;
        log(`${label} ${metric.title}, ${target.name}: ${sample.value.toFixed(1)} ${metric.unit}${problem}`);
      } catch (error) {
        results?.recordFailure(workload.metric, target.name, error);
        log(`${label} ${metric.title}, ${target.name}: FAILED ${firstLine(error)}`);
      }
    }
  }
}

async function measureMemory(
  proxies: BenchTarget[],
  echo: UpstreamEndpoints['echo'],
  settings: BenchSettings,
  tunnels: number,
  results: ResultSet,
): Promise<Array<{ target: string; sample: MemorySample }>> {
  const memory: Array<{ target: string; sample: MemorySample }> = [];
  for (let round = 0; round < settings.idle.rounds; round += 1) {
    for (const target of rotated(proxies, round)) {
      try {
        const sample = await measureIdleTunnelMemory(target, echo, tunnels);
        results.record('idleTunnelMemory', target.name, sample);
        memory.push({ target: target.name, sample });
        log(`memory round ${round + 1}, ${target.name}: ${sample.value.toFixed(1)} KiB per tunnel (${sample.tunnels} tunnels)`);
      } catch (error) {
        results.recordFailure('idleTunnelMemory', target.name, error);
        log(`memory round ${round + 1}, ${target.name}: FAILED ${firstLine(error)}`);
      }
    }
  }
  return memory;
}

async function runBench(settings: BenchSettings): Promise<ReportInput> {
  const loadAverageAtStart = os.loadavg()[0] ?? 0;
  const notes: string[] = [];
  const results = new ResultSet();
  const fdLimit = await childFdLimit();
  const idleTunnels = Math.max(1, Math.min(settings.idle.count, Math.floor((fdLimit - FD_OVERHEAD) / 2)));
  if (idleTunnels < settings.idle.count) {
    notes.push(`Only ${idleTunnels} idle tunnels instead of ${settings.idle.count}: open-file hard limit is ${fdLimit}.`);
  }
  const upstream = await launchUpstream();
  const http = await chooseHttpLoadTool();
  if (http.note !== undefined) notes.push(http.note);
  const started = await startTargets(settings.targets, notes);
  const running = started.map((entry) => entry.running);

  await runRound('warm-up', 0, workloads('warm-up', settings, upstream.endpoints, http.tool), running, null);
  const measured = workloads('measure', settings, upstream.endpoints, http.tool);
  for (let round = 0; round < settings.rounds; round += 1) {
    await runRound(`round ${round + 1}/${settings.rounds}`, round, measured, running, results);
  }
  for (const entry of started) await entry.running.stop();

  const proxies = started.filter((entry) => entry.target.isProxy).map((entry) => entry.target);
  const memory = await measureMemory(proxies, upstream.endpoints.echo, settings, idleTunnels, results);
  await upstream.stop();

  log('policy decision benchmark...');
  const policy = await measurePolicyDecision();
  log(`policy decision: ${policy.status}`);
  log('classification cost per flow...');
  const classifyCost = measureClassifyCost();
  return {
    date: new Date(began),
    durationS: (Date.now() - began) / 1000,
    machine: await describeMachine(loadAverageAtStart),
    httpTool: http.tool.description,
    fdLimit,
    settings,
    idleTunnels,
    results,
    memory,
    policy,
    classifyCost,
    notes,
  };
}

async function main(): Promise<number> {
  const parsed = parseOptions(process.argv.slice(2));
  if (parsed.kind === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (parsed.kind === 'error') {
    process.stderr.write(`${parsed.message}\n${USAGE}\n`);
    return 2;
  }
  cleanUpOnSignals();
  try {
    const input = await runBench(parsed.settings);
    const file = parsed.settings.outFile ?? fileURLToPath(new URL('../../bench/RESULTS.md', import.meta.url));
    await writeReport(file, input);
    process.stdout.write(`${renderReport(input)}\nWritten to ${file}\n`);
    // Transparent mode needs network namespaces (root); without them its section says why.
    await runTransparentBench(file, log);
    return 0;
  } catch (error) {
    process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    return 1;
  } finally {
    await runCleanups();
  }
}

process.exitCode = await main();
