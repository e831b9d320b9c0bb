/**
 * Policy decision benchmark: one agent with 100,000 rules (exact hosts, wildcards, IPv4 and IPv6 CIDRs,
 * various ports, some denies) behind 300 global denies, asked about a mix of targets that hit and miss
 * every kind of rule. The goal is under 5 µs per decision.
 *
 * Prints the median time per decision over several rounds for: `decide()` over the mix (4,096 targets
 * that recur, as destinations do in real traffic: their addresses come from the parsed-address cache),
 * `decide()` where every address is new (each one parsed, ~0.7 µs for IPv4 and ~1.6 µs for IPv6 in
 * net/address.ts), and the name check made before DNS.
 *
 *   npm run build && node dist/bench/policy-decide.js
 */
import { pathToFileURL } from 'node:url';
import { compilePolicy } from '../src/policy/compile.js';
import type { CompiledAgent } from '../src/policy/compiled-agent.js';
import {
  DEFAULT_DETECTION_ACTIONS,
  type DecisionTarget,
  type PortRange,
  type Rule,
  type RuleList,
} from '../src/policy/types.js';

const RULE_COUNT = 100_000;
/** Global denies (mining pools, known-bad networks), consulted on every decision before the agent's rules. */
const GLOBAL_DENY_COUNT = 300;
const TARGET_COUNT = 4_096;
const DECISIONS_PER_ROUND = 200_000;
/** Cold rounds build a target with new addresses for every decision, so they are kept smaller. */
const COLD_DECISIONS_PER_ROUND = 50_000;
const ROUNDS = 7;

export interface PolicyDecideResult {
  rules: number;
  /** Median over the rounds, full decision with addresses (the figure bench/measure/policy-decision.ts reads). */
  nsPerDecision: number;
  /** Full decisions over the target mix, destinations recurring as they do in real traffic. */
  decide: Timing;
  /** Full decisions where every address is new, so none comes from the parsed-address cache. */
  decideColdAddresses: Timing;
  /** The name check made before DNS. */
  checkName: Timing;
  /** How the target mix was decided, to show that hits and misses are both measured. */
  outcomes: Record<string, number>;
}

/** Deterministic PRNG (mulberry32) so every run measures the same rules and targets. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

const PORT_CHOICES: PortRange[][] = [
  [{ from: 443, to: 443 }],
  [{ from: 80, to: 80 }, { from: 443, to: 443 }],
  [{ from: 22, to: 22 }],
  [{ from: 8000, to: 8999 }],
];

/** A public IPv4 address: first octet 11..99 avoids every special range. */
function publicV4(next: () => number): string {
  const octet = () => Math.floor(next() * 256);
  return `${11 + Math.floor(next() * 89)}.${octet()}.${octet()}.${octet()}`;
}

function publicV6(next: () => number): string {
  const group = () => Math.floor(next() * 0x10000).toString(16);
  return `2a0${Math.floor(next() * 10)}:${group()}:${group()}:${group()}::${group()}`;
}

function pick<T>(items: readonly T[], next: () => number): T {
  const item = items[Math.floor(next() * items.length)];
  if (item === undefined) throw new Error('pick from an empty list');
  return item;
}

/** Exact pool names, pool wildcards and bad networks, as policy.yaml `deny:` would list them. */
function buildGlobalDeny(next: () => number): Rule[] {
  const ports = [{ from: 1, to: 65535 }];
  return Array.from({ length: GLOBAL_DENY_COUNT }, (_, i): Rule => {
    const id = `bench.global.${i}`;
    if (i % 3 === 0) return { id, list: 'deny', host: `pool${i}.miner.example`, ports };
    if (i % 3 === 1) return { id, list: 'deny', host: `*.pool${i}.example`, ports };
    return { id, list: 'deny', cidr: `${publicV4(next)}/24`, ports };
  });
}

interface Fixture {
  rules: Rule[];
  /** Targets that hit rules, built alongside them. */
  hits: DecisionTarget[];
}

function buildRules(next: () => number): Fixture {
  const rules: Rule[] = [];
  const hits: DecisionTarget[] = [];
  const add = (list: RuleList, where: { host: string } | { cidr: string }, ports: PortRange[]): void => {
    rules.push({ id: `bench.${list}.${rules.length}`, list, ...where, ports });
  };
  for (let i = 0; rules.length < RULE_COUNT; i++) {
    const ports = pick(PORT_CHOICES, next);
    const port = ports[0]?.from ?? 443;
    const kind = i % 20;
    const list: RuleList = kind === 0 ? 'deny' : kind === 1 ? 'alert' : 'allow';
    if (kind < 8) {
      const host = `svc${i}.region${i % 50}.example.com`;
      add(list, { host }, ports);
      hits.push({ host, addresses: [publicV4(next)], port });
    } else if (kind < 12) {
      add(list, { host: `*.team${i}.corp.example` }, ports);
      hits.push({ host: `build.ci.team${i}.corp.example`, addresses: [publicV4(next), publicV6(next)], port });
    } else if (kind < 17) {
      const address = publicV4(next);
      const prefix = pick([16, 20, 24, 28, 32], next);
      add(list, { cidr: `${address}/${prefix}` }, ports);
      hits.push({ addresses: [address], port });
    } else {
      const address = publicV6(next);
      const prefix = pick([32, 48, 56, 64, 128], next);
      add(list, { cidr: `${address}/${prefix}` }, ports);
      hits.push({ addresses: [address], port });
    }
  }
  return { rules, hits };
}

/** Half hits, half misses: unknown names, unlisted addresses, private addresses (SSRF). */
function buildTargets(hits: readonly DecisionTarget[], next: () => number): DecisionTarget[] {
  const targets: DecisionTarget[] = [];
  for (let i = 0; i < TARGET_COUNT; i++) {
    const miss = i % 8;
    if (miss < 4) targets.push(pick(hits, next));
    else if (miss === 4) targets.push({ host: `nothing${i}.example.net`, addresses: [publicV4(next)], port: 443 });
    else if (miss === 5) targets.push({ host: `x${i}.unknown.corp.example`, addresses: [publicV6(next)], port: 443 });
    else if (miss === 6) targets.push({ addresses: [publicV4(next)], port: 443 });
    else {
      // A name that resolves to one public and one private address: SSRF vetting refuses it.
      const addresses = [publicV4(next), `10.0.${i % 256}.1`];
      targets.push({ host: `svc${i}.region1.example.com`, addresses, port: 443 });
    }
  }
  return targets;
}

/** `count` targets picked from the mix, each address replaced by one never seen before (same family). */
function withFreshAddresses(targets: readonly DecisionTarget[], count: number, next: () => number): DecisionTarget[] {
  return Array.from({ length: count }, () => {
    const target = pick(targets, next);
    const addresses = target.addresses.map((address) => (address.includes(':') ? publicV6(next) : publicV4(next)));
    return { ...target, addresses };
  });
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

interface Timing {
  /** Median wall-clock ns per call over the rounds (process.hrtime.bigint). */
  median: number;
  /** Fastest round: the figure least disturbed by other processes on a shared machine. */
  best: number;
  /** Median CPU time (user + system) ns per call: unlike wall time, not inflated by waiting for a core. */
  cpu: number;
}

/**
 * Makes `decisions` calls of `decideOne` per round, cycling over the items `itemsOfRound` gives (built
 * before the clock starts), round after round, after one warm-up round for the JIT.
 */
function measure<T>(itemsOfRound: () => readonly T[], decisions: number, decideOne: (item: T) => unknown): Timing {
  const wall: number[] = [];
  const cpu: number[] = [];
  let sink = 0;
  for (let round = 0; round < ROUNDS + 1; round++) {
    const items = itemsOfRound();
    const cpuStart = process.cpuUsage();
    const start = process.hrtime.bigint();
    for (let i = 0; i < decisions; i++) {
      const item = items[i % items.length];
      if (item !== undefined && decideOne(item) !== undefined) sink++;
    }
    const elapsed = Number(process.hrtime.bigint() - start);
    const cpuUsed = process.cpuUsage(cpuStart);
    if (round === 0) continue;
    wall.push(elapsed / decisions);
    cpu.push(((cpuUsed.user + cpuUsed.system) * 1000) / decisions);
  }
  if (sink === 0) throw new Error('no decisions were made');
  return { median: median(wall), best: Math.min(...wall), cpu: median(cpu) };
}

function compiledAgent(rules: Rule[], globalDeny: Rule[]): CompiledAgent {
  const result = compilePolicy({
    globalDeny,
    unknownAgent: 'deny',
    requireCredentials: false,
    agents: [{ name: 'bench', mode: 'enforce', sources: [], credentials: [], rules }],
    detectionActions: { ...DEFAULT_DETECTION_ACTIONS },
  });
  if (!result.ok) throw new Error(`benchmark rules do not compile: ${result.errors.slice(0, 3).join('; ')}`);
  const agent = result.policy.agent('bench');
  if (agent === undefined) throw new Error('benchmark agent missing');
  return agent;
}

export function main(): PolicyDecideResult {
  const next = random(0x5eed);
  const { rules, hits } = buildRules(next);
  const targets = buildTargets(hits, next);
  const globalDeny = buildGlobalDeny(next);
  const compileStart = process.hrtime.bigint();
  const agent = compiledAgent(rules, globalDeny);
  const compileMs = Number(process.hrtime.bigint() - compileStart) / 1e6;

  const outcomes: Record<string, number> = {};
  for (const target of targets) {
    const { action, rule } = agent.decide(target);
    const key = rule.startsWith('bench.') ? action : `${action} (${rule})`;
    outcomes[key] = (outcomes[key] ?? 0) + 1;
  }
  const named = targets.filter((t): t is DecisionTarget & { host: string } => t.host !== undefined);
  const decide = measure(() => targets, DECISIONS_PER_ROUND, (t) => agent.decide(t));
  const fresh = () => withFreshAddresses(targets, COLD_DECISIONS_PER_ROUND, next);
  const decideColdAddresses = measure(fresh, COLD_DECISIONS_PER_ROUND, (t) => agent.decide(t));
  const checkName = measure(() => named, DECISIONS_PER_ROUND, (t) => agent.checkName(t.host, t.port));
  const result: PolicyDecideResult = {
    rules: rules.length,
    nsPerDecision: decide.median,
    decide,
    decideColdAddresses,
    checkName,
    outcomes,
  };
  const line = (t: Timing) =>
    `median ${t.median.toFixed(0)} ns, best round ${t.best.toFixed(0)} ns, CPU ${t.cpu.toFixed(0)} ns per decision`;
  const rounds = `${ROUNDS} rounds of ${DECISIONS_PER_ROUND}`;
  console.log(`policy-decide: ${result.rules} rules compiled in ${compileMs.toFixed(0)} ms; ${rounds}`);
  console.log(`  decide():    ${line(decide)}`);
  console.log(`  decide(), every address new: ${line(decideColdAddresses)}`);
  console.log(`  checkName(): ${line(checkName)}`);
  console.log(`  target mix:  ${JSON.stringify(outcomes)}`);
  return result;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) main();
