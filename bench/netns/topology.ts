import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';

/**
 * Two network namespaces joined by a veth pair, for proving transparent mode with real clients and for
 * measuring it: an "agent" namespace (Chokepoint runs inside it as its own uid, with
 * `chokepoint iptables install --mode sidecar`, so its only way out is Chokepoint) and an "internet"
 * namespace holding public-looking addresses on its loopback and real servers on them.
 *
 * Names are unique per run (a random suffix); `destroy` deletes both namespaces (which deletes the veth
 * pair and every rule in them) and kills every process started through `spawnIn`.
 *
 *   sidecar:  agent ns 10.99.0.2/24 ── veth ── 10.99.0.1/24 internet ns (+ INTERNET_ADDRESSES on lo)
 *   gateway:  agent ns 10.99.0.2/24 ── veth ── 10.99.0.1/24 gateway ns 10.97.0.2/24 ── veth ── 10.97.0.1/24 internet ns
 *
 * In the gateway topology the agent's default route is the gateway namespace, which forwards (until
 * `chokepoint iptables install --mode gateway` says otherwise) and runs Chokepoint.
 */

export const AGENT_ADDRESS = '10.99.0.2';
/** The agent's next hop: the internet namespace (sidecar) or the gateway (gateway). */
const AGENT_SIDE_PEER = '10.99.0.1';
const GATEWAY_OUTSIDE = '10.97.0.2';
const INTERNET_OUTSIDE = '10.97.0.1';

/** Public-looking addresses (no special range, so name rules apply to them as to the real internet). */
export const INTERNET_ADDRESSES = {
  allowed: '5.0.0.10',
  denied: '5.0.0.20',
  pool: '5.0.0.30',
  udpSink: '5.0.0.40',
  /** The internet-side DNS server (Chokepoint's dns.upstreams). */
  resolver: '5.0.0.53',
  /** Reached only by names resolved through DNS (no `hosts:` entry, no rule by address). */
  named: '5.0.0.60',
  /** Like `named`, for a test that must dial it bare before any name for it was resolved. */
  shell: '5.0.0.70',
} as const;

/**
 * An IPv6 address of the internet namespace, on its loopback, with an HTTP server: the sidecar agent has
 * an IPv6 route to it (its link is dual-stack), so a test proves IPv6 is redirected too, not a way around.
 */
export const INTERNET_V6 = 'fd99::10';
const AGENT_V6 = 'fd98::2';
const AGENT_SIDE_PEER_V6 = 'fd98::1';

/** What the internet-side DNS server answers: A records for these names and every name under them. */
export const DNS_ZONE: Readonly<Record<string, string>> = {
  'named.test': INTERNET_ADDRESSES.named,
  'blocked.test': INTERNET_ADDRESSES.denied,
  'shell.test': INTERNET_ADDRESSES.shell,
};

/** Why namespaces cannot be used here, or undefined when they can. */
export function netnsUnavailable(): string | undefined {
  if (process.platform !== 'linux') return `network namespaces need Linux (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return 'network namespaces need root';
  for (const tool of ['ip', 'iptables', 'ip6tables', 'iptables-restore', 'setpriv']) {
    if (spawnSync(tool, ['--version']).error && spawnSync(tool, ['-V']).error) return `${tool} is not installed`;
  }
  const probe = `cp-probe-${randomBytes(4).toString('hex')}`;
  const added = spawnSync('ip', ['netns', 'add', probe], { encoding: 'utf8' });
  if (added.status !== 0) return `cannot create a network namespace: ${added.stderr.trim()}`;
  spawnSync('ip', ['netns', 'del', probe]);
  return undefined;
}

export interface CommandResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export type TopologyKind = 'sidecar' | 'gateway';

export class Topology {
  readonly agentNs: string;
  readonly internetNs: string;
  /** Only in the gateway topology. */
  readonly gatewayNs: string | undefined;
  /** The gateway's interface facing the agent (for `--agent-interface`). */
  readonly gatewayAgentIf: string | undefined;
  private readonly children = new Set<ChildProcess>();

  private constructor(readonly id: string, readonly kind: TopologyKind) {
    this.agentNs = `cp-agent-${id}`;
    this.internetNs = `cp-inet-${id}`;
    this.gatewayNs = kind === 'gateway' ? `cp-gw-${id}` : undefined;
    this.gatewayAgentIf = kind === 'gateway' ? `cpg${id}` : undefined;
  }

  /** Creates the namespaces and the links between them; on any failure, undoes what it did and throws. */
  static create(kind: TopologyKind = 'sidecar'): Topology {
    const topology = new Topology(randomBytes(3).toString('hex'), kind);
    try {
      topology.build();
    } catch (error) {
      topology.destroyNamespaces();
      throw error;
    }
    return topology;
  }

  private build(): void {
    const { agentNs, internetNs, gatewayNs, id } = this;
    must('ip', ['netns', 'add', agentNs]);
    must('ip', ['netns', 'add', internetNs]);
    if (gatewayNs) must('ip', ['netns', 'add', gatewayNs]);
    // The agent's link: to the internet namespace directly (sidecar), or to the gateway.
    const agentPeerNs = gatewayNs ?? internetNs;
    const agentPeerIf = this.gatewayAgentIf ?? `cpi${id}`;
    this.link(agentNs, `cpa${id}`, `${AGENT_ADDRESS}/24`, agentPeerNs, agentPeerIf, `${AGENT_SIDE_PEER}/24`);
    this.must(agentNs, ['ip', 'route', 'add', 'default', 'via', AGENT_SIDE_PEER]);
    if (gatewayNs) {
      this.link(gatewayNs, `cpo${id}`, `${GATEWAY_OUTSIDE}/24`, internetNs, `cpi${id}`, `${INTERNET_OUTSIDE}/24`);
      this.must(gatewayNs, ['ip', 'route', 'add', 'default', 'via', INTERNET_OUTSIDE]);
      this.must(gatewayNs, ['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']);
      // Replies to forwarded packets (were any let through) find their way back to the agent.
      this.must(internetNs, ['ip', 'route', 'add', '10.99.0.0/24', 'via', GATEWAY_OUTSIDE]);
    }
    for (const address of Object.values(INTERNET_ADDRESSES)) this.must(internetNs, ['ip', 'addr', 'add', `${address}/32`, 'dev', 'lo']);
    this.must(internetNs, ['ip', '-6', 'addr', 'add', `${INTERNET_V6}/128`, 'dev', 'lo']);
    if (!gatewayNs) {
      // Dual-stack agent link (sidecar); nodad: the addresses are usable at once.
      this.must(agentNs, ['ip', '-6', 'addr', 'add', `${AGENT_V6}/64`, 'dev', `cpa${id}`, 'nodad']);
      this.must(internetNs, ['ip', '-6', 'addr', 'add', `${AGENT_SIDE_PEER_V6}/64`, 'dev', `cpi${id}`, 'nodad']);
      this.must(agentNs, ['ip', '-6', 'route', 'add', 'default', 'via', AGENT_SIDE_PEER_V6]);
    }
  }

  /** A veth pair between two namespaces, addressed and up, with loopback up on both sides. */
  private link(leftNs: string, leftIf: string, leftAddress: string, rightNs: string, rightIf: string, rightAddress: string): void {
    must('ip', ['link', 'add', leftIf, 'netns', leftNs, 'type', 'veth', 'peer', 'name', rightIf, 'netns', rightNs]);
    for (const [ns, name, address] of [[leftNs, leftIf, leftAddress], [rightNs, rightIf, rightAddress]] as const) {
      this.must(ns, ['ip', 'link', 'set', 'lo', 'up']);
      this.must(ns, ['ip', 'addr', 'add', address, 'dev', name]);
      this.must(ns, ['ip', 'link', 'set', name, 'up']);
    }
  }

  /**
   * Makes `nameserver ADDRESS` the resolv.conf of processes run in `ns`: `ip netns exec` bind-mounts
   * /etc/netns/NS/resolv.conf over /etc/resolv.conf. Removed with the namespace.
   */
  setResolver(ns: string, address: string): void {
    mkdirSync(`/etc/netns/${ns}`, { recursive: true });
    writeFileSync(`/etc/netns/${ns}/resolv.conf`, `nameserver ${address}\noptions timeout:5 attempts:1\n`);
  }

  /** Runs a command inside `ns` to completion. */
  run(ns: string, argv: readonly string[], options: { input?: string; timeoutMs?: number } = {}): Promise<CommandResult> {
    return new Promise((resolve) => {
      const child = this.spawnIn(ns, argv);
      let stdout = '';
      let stderr = '';
      child.stdout?.setEncoding('utf8').on('data', (text: string) => (stdout += text));
      child.stderr?.setEncoding('utf8').on('data', (text: string) => (stderr += text));
      const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 20_000);
      child.stdin?.on('error', () => undefined);
      child.stdin?.end(options.input ?? '');
      child.once('close', (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
    });
  }

  /** Starts a long-running process inside `ns`; it is killed by `destroy` if still running. */
  spawnIn(ns: string, argv: readonly string[]): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', ns, ...argv], { stdio: 'pipe' });
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
    child.on('error', () => undefined);
    return child;
  }

  /** Synchronous command inside `ns` that must succeed. */
  must(ns: string, argv: readonly string[]): string {
    return must('ip', ['netns', 'exec', ns, ...argv]);
  }

  /** Kills what was started, then deletes the namespaces (and with them the veth pair and the rules). */
  async destroy(): Promise<void> {
    const exits = [...this.children].map((child) => new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 3_000).unref();
    }));
    await Promise.all(exits);
    this.destroyNamespaces();
  }

  private destroyNamespaces(): void {
    // Processes left in a namespace (started by a test outside spawnIn) are killed first, or the
    // namespace would live on in them.
    for (const ns of [this.agentNs, this.internetNs, ...(this.gatewayNs ? [this.gatewayNs] : [])]) {
      rmSync(`/etc/netns/${ns}`, { recursive: true, force: true });
      if (!existsSync(`/run/netns/${ns}`)) continue;
      const pids = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).stdout.split('\n').filter((pid) => /^\d+$/.test(pid));
      for (const pid of pids) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          // Already gone.
        }
      }
      spawnSync('ip', ['netns', 'del', ns]);
    }
  }
}

function must(command: string, args: readonly string[]): string {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed: ${result.stderr || result.error?.message || `exit ${result.status}`}`);
  return result.stdout;
}
