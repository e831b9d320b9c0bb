/**
 * Transparent mode's cost, measured in network namespaces (bench/netns/): the same client, in the agent
 * namespace, reaching the same server in the internet namespace three ways —
 *
 * - direct: no proxy, routing only (the client runs as the proxy's uid, which the iptables rules exempt);
 * - transparent: redirected by iptables to Chokepoint's transparent listener (no proxy settings);
 * - CONNECT: an explicit CONNECT tunnel through the same Chokepoint.
 *
 * Interleaved rounds; per way, the median connection setup (connect → first byte of the answer) and the
 * median single-connection throughput. Needs root; prints why and does nothing otherwise.
 * Run alone with `npm run bench:transparent`; `npm run bench` runs it after the main benchmark.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { REPO_ROOT, startSidecarLab, type SidecarLab } from './netns/sidecar-lab.js';
import { AGENT_ADDRESS, INTERNET_ADDRESSES, netnsUnavailable } from './netns/topology.js';

const ROUNDS = 5;
const CONNECTIONS_PER_ROUND = 100;
const BULK_BYTES = 256 * 1024 * 1024;
const SERVER_PORT = 7000;
const CLIENT = path.join(REPO_ROOT, 'dist', 'bench', 'netns', 'measure-client.js');

type Way = 'direct' | 'transparent' | 'connect';
const WAYS: readonly Way[] = ['direct', 'transparent', 'connect'];

export interface TransparentResults {
  rounds: number;
  connectionsPerRound: number;
  bulkBytes: number;
  setupMedianMs: Record<Way, number>;
  setupP90Ms: Record<Way, number>;
  throughputMBs: Record<Way, number>;
}

async function measureOnce(lab: SidecarLab, way: Way): Promise<{ setupMs: number[]; mbPerS: number }> {
  const host = INTERNET_ADDRESSES.allowed;
  const client = [process.execPath, CLIENT, way === 'connect' ? 'connect' : 'plain', host, String(SERVER_PORT), String(lab.httpPort), String(CONNECTIONS_PER_ROUND), String(BULK_BYTES)];
  // The proxy's uid is exempt from the redirection: the same client, routed straight out.
  const argv = way === 'direct' ? ['setpriv', '--reuid', String(lab.proxyUid), '--regid', String(lab.proxyUid), '--clear-groups', '--', ...client] : client;
  const result = await lab.topology.run(lab.topology.agentNs, argv, { timeoutMs: 300_000 });
  if (result.code !== 0) throw new Error(`${way}: ${result.stderr.trim()}`);
  return JSON.parse(result.stdout) as { setupMs: number[]; mbPerS: number };
}

export async function measureTransparent(log: (text: string) => void): Promise<TransparentResults> {
  const lab = await startSidecarLab({
    policy: 'unknown_agent: deny\n',
    agents: {
      bench: `agent: bench\nidentify: { sources: ["${AGENT_ADDRESS}/32", "127.0.0.1/32"] }\nallow:\n  - { cidr: ${INTERNET_ADDRESSES.allowed}/32, ports: [${SERVER_PORT}] }\n`,
    },
    certificateNames: ['bench.test'],
    // One event per decision goes to a file; keep the proxy's own logging as in production.
    extraConfig: '',
  });
  const setups: Record<Way, number[]> = { direct: [], transparent: [], connect: [] };
  const throughputs: Record<Way, number[]> = { direct: [], transparent: [], connect: [] };
  try {
    for (let round = 0; round < ROUNDS; round += 1) {
      // Rotate the order so no way always runs first (warm caches) or last.
      for (const way of [...WAYS.slice(round % WAYS.length), ...WAYS.slice(0, round % WAYS.length)]) {
        const sample = await measureOnce(lab, way);
        setups[way].push(...sample.setupMs);
        throughputs[way].push(sample.mbPerS);
        log(`transparent bench round ${round + 1}/${ROUNDS}, ${way}: setup median ${median(sample.setupMs).toFixed(3)} ms, ${sample.mbPerS.toFixed(0)} MB/s`);
      }
    }
  } finally {
    await lab.stop();
  }
  const per = (pick: (way: Way) => number): Record<Way, number> => ({ direct: pick('direct'), transparent: pick('transparent'), connect: pick('connect') });
  return {
    rounds: ROUNDS,
    connectionsPerRound: CONNECTIONS_PER_ROUND,
    bulkBytes: BULK_BYTES,
    setupMedianMs: per((way) => median(setups[way])),
    setupP90Ms: per((way) => quantile(setups[way], 0.9)),
    throughputMBs: per((way) => median(throughputs[way])),
  };
}

function quantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
}

function median(values: readonly number[]): number {
  return quantile(values, 0.5);
}

const HEADING = '## Transparent mode';

export function renderTransparentSection(results: TransparentResults | { skipped: string }, date: Date): string {
  if ('skipped' in results) return `${HEADING}\n\nNot measured in this run: ${results.skipped}.\n`;
  const row = (title: string, values: Record<Way, number>, digits: number, ratioOf: (way: Way) => number): string =>
    `| ${title} | ${WAYS.map((way) => values[way].toFixed(digits)).join(' | ')} | ${ratioOf('transparent').toFixed(2)}× | ${ratioOf('connect').toFixed(2)}× |`;
  return [
    HEADING,
    '',
    `Written by \`npm run bench:transparent\` (bench/transparent.ts), ${date.toISOString()}. In network namespaces: the`,
    'client in the agent namespace, Chokepoint there too as its own uid behind `chokepoint iptables install --mode sidecar`,',
    'the server in the internet namespace across a veth pair. Same client, same server, three ways: direct (the proxy\'s',
    'uid, exempt from the redirection: routing only), transparent (redirected by iptables, no proxy settings), and an',
    'explicit CONNECT tunnel through the same Chokepoint. Classification on (the server\'s protocol is `unknown`).',
    `${results.rounds} interleaved rounds of ${results.connectionsPerRound} sequential connections (setup = connect() to the first`,
    `byte of the answer to a 5-byte request) and one ${results.bulkBytes / 1024 / 1024} MiB download per way.`,
    '',
    '| Measurement | direct | transparent | CONNECT | transparent ÷ direct | CONNECT ÷ direct |',
    '|---|---|---|---|---|---|',
    row('Setup + first byte, median (ms, lower is better)', results.setupMedianMs, 3, (way) => results.setupMedianMs[way] / results.setupMedianMs.direct),
    row('Setup + first byte, p90 (ms)', results.setupP90Ms, 3, (way) => results.setupP90Ms[way] / results.setupP90Ms.direct),
    row('Throughput, one connection (MB/s, higher is better)', results.throughputMBs, 0, (way) => results.throughputMBs[way] / results.throughputMBs.direct),
    '',
  ].join('\n');
}

/** Replaces (or appends) the Transparent mode section of a results file. */
export async function writeTransparentSection(file: string, section: string): Promise<void> {
  let text = '';
  try {
    text = await readFile(file, 'utf8');
  } catch {
    text = '# Chokepoint benchmark results\n';
  }
  const start = text.indexOf(`\n${HEADING}\n`);
  if (start < 0) return writeFile(file, `${text.trimEnd()}\n\n${section}`);
  const next = text.indexOf('\n## ', start + HEADING.length + 1);
  const after = next < 0 ? '' : text.slice(next);
  await writeFile(file, `${text.slice(0, start).trimEnd()}\n\n${section}${after}`);
}

/** Measures (or says why not) and writes the section into `file`. */
export async function runTransparentBench(file: string, log: (text: string) => void): Promise<void> {
  const unavailable = netnsUnavailable();
  const date = new Date();
  if (unavailable) {
    log(`transparent mode not measured: ${unavailable}`);
    await writeTransparentSection(file, renderTransparentSection({ skipped: unavailable }, date));
    return;
  }
  const results = await measureTransparent(log);
  const section = renderTransparentSection(results, date);
  await writeTransparentSection(file, section);
  process.stdout.write(`${section}\nWritten to ${file}\n`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const file = fileURLToPath(new URL('../../bench/RESULTS.md', import.meta.url));
  runTransparentBench(file, (text) => process.stderr.write(`${text}\n`)).catch((error: unknown) => {
    process.stderr.write(`transparent bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  });
}
