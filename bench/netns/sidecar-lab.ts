import { execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { InternetRecord } from './internet-servers.js';
import { INTERNET_ADDRESSES, Topology, type TopologyKind } from './topology.js';

/**
 * A topology, running: the internet namespace's servers, and Chokepoint as its own unprivileged uid —
 * inside the agent namespace behind `chokepoint iptables install --mode sidecar`, or (gateway) in the
 * gateway namespace the agent routes through, behind `--mode gateway`. What the e2e tests and the
 * transparent benchmark share. Everything runs from the built `dist/` (npm run build).
 */

export interface SidecarLabOptions {
  /** rules/policy.yaml and rules/agents/NAME.yaml contents. */
  policy: string;
  agents: Record<string, string>;
  /** Extra config YAML lines (hosts:, timeouts:, …), appended to the generated config. */
  extraConfig?: string;
  /** Names the TLS server's certificate is for. */
  certificateNames: string[];
  /** Default sidecar. */
  kind?: TopologyKind;
  /**
   * Runs the DNS listener (on the port `iptables install` redirects 53 to) with the internet namespace's
   * DNS server as its upstream, and points the agent namespace's resolv.conf at an arbitrary resolver
   * address — every query to it is redirected to Chokepoint.
   */
  dns?: boolean;
}

export interface SidecarLab {
  topology: Topology;
  /** The namespace Chokepoint (and its iptables rules) run in: the agent's (sidecar) or the gateway's. */
  chokepointNs: string;
  dir: string;
  certPath: string;
  proxyUid: number;
  transparentPort: number;
  httpPort: number;
  dnsPort: number;
  /** The admin API (on loopback of Chokepoint's namespace) and its bearer token. */
  adminPort: number;
  adminToken: string;
  /** Every connection / datagram the internet servers got, in order. */
  internet: InternetRecord[];
  /** Chokepoint's events so far (re-read from its events file). */
  events(): Record<string, unknown>[];
  /** Output of `chokepoint iptables install` (the commands it ran). */
  iptablesOutput: string;
  stop(): Promise<void>;
}

export const REPO_ROOT = findRepoRoot(path.dirname(fileURLToPath(import.meta.url)));
export const CLI = path.join(REPO_ROOT, 'dist', 'src', 'cli.js');
const INTERNET_SERVERS = path.join(REPO_ROOT, 'dist', 'bench', 'netns', 'internet-servers.js');

const TRANSPARENT_PORT = 15001;
const HTTP_PORT = 3128;
const DNS_PORT = 15053;
const ADMIN_PORT = 9901;
/** What the agent's resolv.conf names: nothing answers there; the redirection sends queries to Chokepoint. */
export const AGENT_RESOLVER = '192.0.2.53';

export async function startSidecarLab(options: SidecarLabOptions): Promise<SidecarLab> {
  if (!existsSync(CLI) || !existsSync(INTERNET_SERVERS)) throw new Error(`run "npm run build" first (${CLI} is missing)`);
  const topology = Topology.create(options.kind ?? 'sidecar');
  const dir = mkdtempSync(path.join(tmpdir(), 'chokepoint-netns-'));
  const cleanup = async (): Promise<void> => {
    await topology.destroy();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    return await start(topology, dir, options, cleanup);
  } catch (error) {
    await cleanup();
    throw error;
  }
}

async function start(topology: Topology, dir: string, options: SidecarLabOptions, cleanup: () => Promise<void>): Promise<SidecarLab> {
  // The proxy's own uid: numeric, no account needed; random so parallel runs never share one.
  const proxyUid = 40_000 + Math.floor(Math.random() * 20_000);
  chmodSync(dir, 0o755);

  const keyPath = path.join(dir, 'key.pem');
  const certPath = path.join(dir, 'cert.pem');
  const san = options.certificateNames.map((name) => `DNS:${name}`).join(',');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
    '-subj', `/CN=${options.certificateNames[0] ?? 'localhost'}`, '-addext', `subjectAltName=${san}`,
    '-keyout', keyPath, '-out', certPath,
  ], { stdio: 'ignore' });

  const internet: InternetRecord[] = [];
  const servers = topology.spawnIn(topology.internetNs, [process.execPath, INTERNET_SERVERS, keyPath, certPath]);
  await waitForLine(servers, 'stdout', (line) => {
    if (line === 'ready') return true;
    if (line.startsWith('{')) internet.push(JSON.parse(line) as InternetRecord);
    return false;
  });

  const rulesDir = path.join(dir, 'rules');
  mkdirSync(path.join(rulesDir, 'agents'), { recursive: true });
  writeFileSync(path.join(rulesDir, 'policy.yaml'), options.policy);
  for (const [name, text] of Object.entries(options.agents)) writeFileSync(path.join(rulesDir, 'agents', `${name}.yaml`), text);
  const stateDir = path.join(dir, 'state');
  mkdirSync(stateDir);
  chownSync(stateDir, proxyUid, proxyUid);
  const eventsFile = path.join(stateDir, 'events.jsonl');
  const configFile = path.join(dir, 'chokepoint.yaml');
  const gateway = topology.gatewayNs !== undefined;
  const chokepointNs = topology.gatewayNs ?? topology.agentNs;
  // A gateway's PREROUTING REDIRECT goes to the address of the interface the packet came in on.
  const transparentHost = gateway ? '0.0.0.0' : '127.0.0.1';
  const dnsListen = options.dns ? `, dns: "${transparentHost}:${DNS_PORT}"` : '';
  const adminToken = randomBytes(24).toString('hex');
  writeFileSync(configFile, [
    `listen: { http: "127.0.0.1:${HTTP_PORT}", socks: null, transparent: "${transparentHost}:${TRANSPARENT_PORT}"${dnsListen}, admin: "127.0.0.1:${ADMIN_PORT}" }`,
    `admin: { token: "${adminToken}" }`,
    ...(options.dns ? [`dns: { upstreams: ["${INTERNET_ADDRESSES.resolver}"] }`] : []),
    `rules: ${rulesDir}`,
    `state_dir: ${stateDir}`,
    `events: { file: ${eventsFile} }`,
    options.extraConfig ?? '',
    '',
  ].join('\n'));

  if (options.dns) topology.setResolver(topology.agentNs, AGENT_RESOLVER);
  const modeArgs = gateway ? ['--mode', 'gateway', '--agent-interface', topology.gatewayAgentIf ?? ''] : ['--mode', 'sidecar', '--proxy-user', String(proxyUid)];
  const installed = await topology.run(chokepointNs, [process.execPath, CLI, 'iptables', 'install', ...modeArgs, '--config', configFile]);
  if (installed.code !== 0) throw new Error(`chokepoint iptables install failed: ${installed.stderr}`);

  const chokepoint = topology.spawnIn(chokepointNs, [
    'setpriv', '--reuid', String(proxyUid), '--regid', String(proxyUid), '--clear-groups', '--',
    process.execPath, CLI, 'run', '--config', configFile,
  ]);
  await waitForLine(chokepoint, 'stderr', (line) => line.includes('chokepoint: listening'));

  return {
    topology,
    chokepointNs,
    dir,
    certPath,
    proxyUid,
    transparentPort: TRANSPARENT_PORT,
    httpPort: HTTP_PORT,
    dnsPort: DNS_PORT,
    adminPort: ADMIN_PORT,
    adminToken,
    internet,
    iptablesOutput: installed.stdout,
    events: () => readEvents(eventsFile),
    stop: async () => {
      chokepoint.kill('SIGTERM');
      await cleanup();
    },
  };
}

function readEvents(file: string): Record<string, unknown>[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/**
 * Reads `child`'s output line by line, handing each to `done` until it returns true (resolves) or the
 * process exits first (rejects, with what it printed). Lines after that keep going to `done`.
 */
function waitForLine(child: ChildProcess, stream: 'stdout' | 'stderr', done: (line: string) => boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    let pending = '';
    let printed = '';
    let resolved = false;
    const source = child[stream];
    if (!source) return reject(new Error(`no ${stream} to read`));
    source.setEncoding('utf8').on('data', (text: string) => {
      printed = (printed + text).slice(-4000);
      pending += text;
      let newline = pending.indexOf('\n');
      while (newline >= 0) {
        const line = pending.slice(0, newline);
        pending = pending.slice(newline + 1);
        if (done(line) && !resolved) {
          resolved = true;
          resolve();
        }
        newline = pending.indexOf('\n');
      }
    });
    child.stderr?.setEncoding('utf8').on('data', (text: string) => {
      if (stream !== 'stderr') printed = (printed + text).slice(-4000);
    });
    child.once('exit', (code) => {
      if (!resolved) reject(new Error(`process exited (${code}) before it was ready:\n${printed}`));
    });
  });
}

function findRepoRoot(from: string): string {
  let dir = from;
  while (!existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`no package.json above ${from}`);
    dir = parent;
  }
  return dir;
}
