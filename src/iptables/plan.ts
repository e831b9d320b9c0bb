/**
 * The iptables rules that make Chokepoint the only way out, as data: a pure function of the options,
 * so the exact rules are unit-tested and `--dry-run` prints what `install` would run.
 *
 * Everything lives in dedicated chains, filled atomically by `iptables-restore --noflush` (declaring a
 * chain there creates it or flushes it, so installing twice gives the same rules with no moment where
 * the old ones are gone), and reached by one jump from the built-in chain, added only when missing.
 *
 * - sidecar (Chokepoint runs in the agent's network namespace as its own user): nat OUTPUT → CHOKEPOINT_OUT
 *   redirects the agent's DNS (UDP and TCP 53) to the DNS listener and every other TCP connection to the
 *   transparent listener; filter OUTPUT → CHOKEPOINT_FILTER drops, counted in CHOKEPOINT_DROP, whatever
 *   was not redirected (UDP, QUIC included, and every other protocol). The proxy's own user and
 *   loopback are left alone, except the admin API's port (`adminPort`), refused to all but the proxy.
 * - gateway (agents route through the host running Chokepoint): nat PREROUTING → CHOKEPOINT_PRE does the
 *   same redirections for traffic arriving from the agents (except to the gateway's own addresses, so
 *   the explicit proxy ports stay reachable); filter FORWARD → CHOKEPOINT_FWD drops (counted) everything
 *   the gateway would otherwise forward.
 *
 * Counters: `iptables -L CHOKEPOINT_DROP -v -x -n` (one rule per kind: QUIC, other UDP, TCP, other).
 */

export type IptablesMode = 'sidecar' | 'gateway';

export interface IptablesOptions {
  mode: IptablesMode;
  /** The uid Chokepoint runs as; its own traffic is never redirected (sidecar). */
  proxyUid?: number;
  transparentPort: number;
  dnsPort: number;
  /** Gateway: only traffic arriving on this interface is redirected / dropped (default: all but lo). */
  agentInterface?: string;
  /**
   * Sidecar: the admin API's port, refused (TCP reset) to everyone in the namespace but the proxy user.
   * Loopback is otherwise open to the agent, and the admin API can release a quarantine; its bearer
   * token stays the main lock, this takes away the agent's chance to use or guess it. Connections
   * from outside the namespace (an operator, through INPUT) are not affected.
   */
  adminPort?: number;
}

export type Family = 4 | 6;

/** One thing to do; `renderStep` prints it as the shell command(s) it stands for. */
export type Step =
  | { kind: 'restore'; family: Family; text: string }
  /** Add `-I chain 1 <rule>` unless `-C chain <rule>` finds it. */
  | { kind: 'ensure-jump'; family: Family; table: Table; chain: string; rule: string[] }
  /** Delete every rule of built-in `chain` that jumps to `target`, whatever its matches, except `keep`. */
  | { kind: 'remove-jumps'; family: Family; table: Table; chain: string; target: string; keep?: string[] }
  /** Flush and delete a chain of ours, if it exists. */
  | { kind: 'delete-chain'; family: Family; table: Table; chain: string };

export type Table = 'nat' | 'filter';

export const CHAINS = {
  natOut: 'CHOKEPOINT_OUT',
  natPre: 'CHOKEPOINT_PRE',
  filterOut: 'CHOKEPOINT_FILTER',
  filterForward: 'CHOKEPOINT_FWD',
  drop: 'CHOKEPOINT_DROP',
} as const;

const FAMILIES: readonly Family[] = [4, 6];

interface Layout {
  /** Built-in chain → our chain, per table. */
  jumps: { table: Table; chain: string; rule: string[] }[];
  nat: { chain: string; rules: string[][] };
  filter: { chain: string; rules: string[][] };
}

export function validateOptions(options: IptablesOptions): string | undefined {
  const ports = [['transparent port', options.transparentPort], ['dns port', options.dnsPort], ['admin port', options.adminPort]] as const;
  for (const [name, port] of ports) {
    if (port === undefined) continue;
    if (!Number.isInteger(port) || port < 1 || port > 65535) return `${name} ${port} is not a port (1-65535)`;
  }
  if (options.mode === 'sidecar' && (options.proxyUid === undefined || !Number.isInteger(options.proxyUid) || options.proxyUid < 0)) {
    return 'sidecar mode needs --proxy-user (the user Chokepoint runs as), so that its own traffic is not redirected back to it';
  }
  if (options.mode === 'sidecar' && options.proxyUid === 0) {
    return 'the proxy user must not be root: every process running as root would bypass the redirection';
  }
  if (options.agentInterface !== undefined && !/^[A-Za-z0-9_.:@-]{1,15}$/.test(options.agentInterface)) {
    return `"${options.agentInterface}" is not an interface name`;
  }
  return undefined;
}

function layout(options: IptablesOptions, family: Family): Layout {
  const dns = (protocol: 'udp' | 'tcp'): string[] => ['-p', protocol, '--dport', '53', '-j', 'REDIRECT', '--to-ports', String(options.dnsPort)];
  const tcp = ['-p', 'tcp', '-j', 'REDIRECT', '--to-ports', String(options.transparentPort)];
  if (options.mode === 'sidecar') {
    const own = ['-m', 'owner', '--uid-owner', String(options.proxyUid), '-j', 'RETURN'];
    // Every local address is reached through lo, so this covers the admin API whatever it binds.
    const admin = options.adminPort === undefined
      ? []
      : [['-o', 'lo', '-p', 'tcp', '--dport', String(options.adminPort), '-m', 'comment', '--comment', 'chokepoint: admin API', '-j', 'REJECT', '--reject-with', 'tcp-reset']];
    // Without neighbour discovery no IPv6 packet leaves the namespace, the proxy's own included.
    const neighbourDiscovery = family === 6
      ? ['router-solicitation', 'neighbour-solicitation', 'neighbour-advertisement'].map((type) => ['-p', 'ipv6-icmp', '--icmpv6-type', type, '-j', 'RETURN'])
      : [];
    return {
      jumps: [
        { table: 'nat', chain: 'OUTPUT', rule: ['-j', CHAINS.natOut] },
        { table: 'filter', chain: 'OUTPUT', rule: ['-j', CHAINS.filterOut] },
      ],
      // DNS comes before the loopback exception: a resolver configured at 127.0.0.53 is Chokepoint's too.
      nat: { chain: CHAINS.natOut, rules: [own, dns('udp'), dns('tcp'), ['-o', 'lo', '-j', 'RETURN'], tcp] },
      // Redirected packets still show their original output interface to filter OUTPUT (the hook's
      // device is fixed before nat reroutes them), so they are let through by their conntrack state.
      filter: {
        chain: CHAINS.filterOut,
        rules: [own, ...admin, ['-o', 'lo', '-j', 'RETURN'], ['-m', 'conntrack', '--ctstate', 'DNAT', '-j', 'RETURN'], ...neighbourDiscovery, ['-j', CHAINS.drop]],
      },
    };
  }
  const from = options.agentInterface ? ['-i', options.agentInterface] : ['!', '-i', 'lo'];
  return {
    jumps: [
      { table: 'nat', chain: 'PREROUTING', rule: [...from, '-j', CHAINS.natPre] },
      { table: 'filter', chain: 'FORWARD', rule: [...from, '-j', CHAINS.filterForward] },
    ],
    nat: {
      chain: CHAINS.natPre,
      rules: [dns('udp'), dns('tcp'), ['-m', 'addrtype', '--dst-type', 'LOCAL', '-j', 'RETURN'], tcp],
    },
    filter: { chain: CHAINS.filterForward, rules: [['-j', CHAINS.drop]] },
  };
}

/** The counting chain: one DROP rule per kind, so `-L -v` says what was dropped. */
function dropRules(): string[][] {
  const rule = (match: string[], comment: string): string[] => [...match, '-m', 'comment', '--comment', comment, '-j', 'DROP'];
  return [
    rule(['-p', 'udp', '--dport', '443'], 'chokepoint: QUIC'),
    rule(['-p', 'udp'], 'chokepoint: UDP'),
    rule(['-p', 'tcp'], 'chokepoint: TCP not redirected'),
    rule([], 'chokepoint: other protocols'),
  ];
}

function restoreText(options: IptablesOptions, family: Family): string {
  const { nat, filter } = layout(options, family);
  const lines = ['*nat', `:${nat.chain} - [0:0]`, ...nat.rules.map((rule) => `-A ${nat.chain} ${quoteRule(rule)}`), 'COMMIT'];
  lines.push('*filter', `:${filter.chain} - [0:0]`, `:${CHAINS.drop} - [0:0]`);
  lines.push(...filter.rules.map((rule) => `-A ${filter.chain} ${quoteRule(rule)}`));
  lines.push(...dropRules().map((rule) => `-A ${CHAINS.drop} ${quoteRule(rule)}`), 'COMMIT');
  return `${lines.join('\n')}\n`;
}

/** Every jump either mode installs: built-in chain → our chain. */
const JUMP_SITES = [
  ['nat', 'OUTPUT', CHAINS.natOut],
  ['nat', 'PREROUTING', CHAINS.natPre],
  ['filter', 'OUTPUT', CHAINS.filterOut],
  ['filter', 'FORWARD', CHAINS.filterForward],
] as const;

/** Our chains, with their table; CHAINS.drop is shared by both modes. */
const OUR_CHAINS = [
  ['nat', CHAINS.natOut],
  ['nat', CHAINS.natPre],
  ['filter', CHAINS.filterOut],
  ['filter', CHAINS.filterForward],
  ['filter', CHAINS.drop],
] as const;

/**
 * Fills our chains, adds the jumps to them, then removes every other jump to our chains and the chains
 * this mode does not use — what an earlier install with other options (another mode, another agent
 * interface) left. Those would otherwise keep redirecting or dropping by the old options, or a stale
 * jump would keep reaching a chain no longer refilled. New jumps are added before old ones go, so the
 * traffic the new options cover is never let through unredirected.
 */
export function installPlan(options: IptablesOptions): Step[] {
  const steps: Step[] = [];
  for (const family of FAMILIES) {
    const { jumps, nat, filter } = layout(options, family);
    steps.push({ kind: 'restore', family, text: restoreText(options, family) });
    for (const jump of jumps) steps.push({ kind: 'ensure-jump', family, ...jump });
    for (const [table, chain, target] of JUMP_SITES) {
      const wanted = jumps.find((jump) => jump.table === table && jump.chain === chain);
      steps.push({ kind: 'remove-jumps', family, table, chain, target, ...(wanted ? { keep: wanted.rule } : {}) });
    }
    const used = new Set<string>([nat.chain, filter.chain, CHAINS.drop]);
    for (const [table, chain] of OUR_CHAINS) if (!used.has(chain)) steps.push({ kind: 'delete-chain', family, table, chain });
  }
  return steps;
}

/**
 * Removes what either mode installs (so a switch of mode, or an install with other options, leaves
 * nothing behind): jumps first, so no packet meets a half-removed chain, then our chains.
 */
export function removePlan(): Step[] {
  const steps: Step[] = [];
  for (const family of FAMILIES) {
    for (const [table, chain, target] of JUMP_SITES) steps.push({ kind: 'remove-jumps', family, table, chain, target });
    for (const [table, chain] of OUR_CHAINS) steps.push({ kind: 'delete-chain', family, table, chain });
  }
  return steps;
}

export function binaryOf(family: Family): 'iptables' | 'ip6tables' {
  return family === 4 ? 'iptables' : 'ip6tables';
}

/** The step as a shell command a reader could run by hand. */
export function renderStep(step: Step): string {
  const bin = binaryOf(step.family);
  switch (step.kind) {
    case 'restore':
      return `${bin}-restore --noflush <<'EOF'\n${step.text}EOF`;
    case 'ensure-jump': {
      const rule = quoteRule(step.rule);
      return `${bin} -t ${step.table} -C ${step.chain} ${rule} 2>/dev/null || ${bin} -t ${step.table} -I ${step.chain} 1 ${rule}`;
    }
    case 'remove-jumps': {
      const except = step.keep ? ` | grep -vxF -- '-A ${step.chain} ${quoteRule(step.keep)}'` : '';
      return `${bin} -t ${step.table} -S ${step.chain}${except} | sed -n 's/^-A \\(.* -j ${step.target}\\)$/\\1/p' | while read -r rule; do ${bin} -t ${step.table} -D $rule; done`;
    }
    case 'delete-chain':
      return `if ${bin} -t ${step.table} -n -L ${step.chain} >/dev/null 2>&1; then ${bin} -t ${step.table} -F ${step.chain}; ${bin} -t ${step.table} -X ${step.chain}; fi`;
  }
}

/** Arguments joined for iptables-restore and the shell: quoted only where they contain a space. */
function quoteRule(rule: readonly string[]): string {
  return rule.map((arg) => (/^[\w.:/@!-]+$/.test(arg) ? arg : `"${arg}"`)).join(' ');
}
