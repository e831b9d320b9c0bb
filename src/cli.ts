#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { formatConfigErrors } from './config/errors.js';
import { applyCliOverrides, defaultConfig, loadConfigFile } from './config/load-config.js';
import { loadRules } from './config/load-rules.js';
import { check } from './commands/check.js';
import { quarantineCommand } from './quarantine/cli-command.js';
import { suggestCommand } from './suggest/command.js';
import { iptablesCommand } from './iptables/command.js';
import { formatReport, unreadableFiles, verifyLogFiles } from './events/verify-log-files.js';
import { ListenError, startProxy, StartupError } from './server.js';
import { messageOf } from './error-message.js';

const HELP = `chokepoint — egress-inspecting forward proxy for sandboxed AI agents

Usage:
  chokepoint run [--config FILE] [--rules DIR] [--http HOST:PORT] [--socks HOST:PORT]
                 [--transparent HOST:PORT] [--dns HOST:PORT] [--events FILE] [--admin HOST:PORT]
  chokepoint check --agent AGENT HOST:PORT [--protocol P] [--config FILE] [--rules DIR] [--state DIR] [--json]
  chokepoint iptables install|remove --mode sidecar|gateway [--proxy-user USER] [--dry-run]
                 [--transparent-port N] [--dns-port N] [--agent-interface IF] [--admin-port N] [--config FILE]
  chokepoint lint [RULES_DIR]
  chokepoint quarantine list|release [AGENT] [--config FILE] [--state DIR]
  chokepoint quarantine add AGENT [--reason R] [--for DURATION] [--config FILE] [--state DIR]
  chokepoint suggest [--events FILE]... [--rules DIR] [--agent NAME]
  chokepoint verify-log [--partial] FILE [FILE…]
  chokepoint --help

run      Start the proxy.
  --config FILE       YAML config: listen, rules, state_dir, certs_dir, inspect, events, sinks, hosts,
                      dns, timeouts, limits, admin, quarantine (expiry, webhooks) (see README). sinks:
                      stdout / file (rotated) / syslog (udp, tcp, tls) / http (JSON or Splunk HEC,
                      spooled under state_dir); sinks replace --events / events.file.
  --rules DIR         Rules directory (policy.yaml, agents/*.yaml). Default: ./rules
  --http HOST:PORT    HTTP forward proxy + CONNECT listener. Default: 127.0.0.1:3128
  --socks HOST:PORT   SOCKS5 listener. Default: 127.0.0.1:1080
  --dns HOST:PORT     DNS server for agents (UDP and TCP), e.g. 127.0.0.1:5353. Default: off.
                      Answers only names the agent's rules can reach, vets the addresses, forwards to
                      dns.upstreams (config; default: the system's resolvers).
  --transparent HOST:PORT
                      Transparent listener for connections redirected by iptables (see "iptables").
                      Default: off. Sidecar: 127.0.0.1:15001; gateway: the agent-facing address.
  --events FILE       Append events as JSON lines to FILE ("-" = stdout). Default: stdout
  --admin HOST:PORT   Admin API + /metrics listener (PORT alone = 127.0.0.1:PORT). Default: off.
                      Needs a bearer token: config admin.token_file / admin.token, or
                      CHOKEPOINT_ADMIN_TOKEN (at least 16 characters).
  Rules reload when their files change and on SIGHUP; an invalid change is rejected (config.rejected
  event) and the previous rules keep serving. SIGINT / SIGTERM stop gracefully.

check    What the proxy would decide for AGENT connecting to HOST:PORT (speaking protocol P: tls,
         http, websocket, ssh, …): the same dry-run as POST /v1/decide, names resolved as the proxy
         would. Prints the decision, rule and reason (--json: one JSON object). Exit 0 allow or
         alert, 4 deny, 1 invalid config or rules, 2 usage error or unknown agent.
iptables install|remove   Redirect an agent's traffic to Chokepoint (iptables and ip6tables, dedicated
                          CHOKEPOINT_* chains; install twice = same rules; remove leaves nothing).
  --mode sidecar          Chokepoint runs in the agent's network namespace: nat OUTPUT redirects TCP to
                          the transparent port and DNS (UDP/TCP 53) to the DNS port; filter OUTPUT drops
                          (and counts) all other UDP, QUIC included, and other protocols.
  --mode gateway          Agents route through this host: the same on nat PREROUTING / filter FORWARD.
  --proxy-user USER       Name or uid Chokepoint runs as (sidecar, required): its traffic is not redirected.
  --transparent-port N    Default: listen.transparent of --config FILE, else 15001.
  --dns-port N            Default: listen.dns of --config FILE, else 15053.
  --agent-interface IF    Gateway: only traffic arriving on IF (default: every interface but lo).
  --admin-port N          Sidecar: the admin API port, refused to all but --proxy-user (the agent shares
                          loopback). Default: listen.admin of --config FILE, else none.
  --dry-run               Print the commands without running them. Counters of dropped packets:
                          iptables -L CHOKEPOINT_DROP -v -x -n

lint     Validate a rules directory (default ./rules); prints file:line: key: problem; exit 1 on errors.

quarantine list             Agents in quarantine (from the state directory: --state DIR, or the
                            config file's state_dir, default ./.chokepoint-state).
quarantine release AGENT    Release an agent. A running proxy applies it on its next reload: send it
                            SIGHUP (or touch a rules file).
quarantine add AGENT        Quarantine an agent (applied by a running proxy on SIGHUP, which also closes
  --reason R                its live flows). Why, for the events and the agent's refusals. Default: "operator".
  --for DURATION            Lapses by itself after DURATION (90s, 30m, 2h, 1d). Default: the config's
                            quarantine.default_duration_s, else until released.

suggest  Propose allow-list additions per agent from event logs (JSON lines written by the proxy, e.g. an
         audit-mode run), as a diff against rules/agents/NAME.yaml; lists what it will not suggest and why.
  --events FILE       Event log to read (repeatable; "-" = stdin). Default: stdin
  --rules DIR         Rules directory the diff is against. Default: ./rules
  --agent NAME        Only this agent.

verify-log FILE [FILE…]     Check event logs (JSON lines) against their hash chain: edited, deleted,
                            reordered or inserted events, and truncation (a chain that ends without
                            proxy.stopped before a restart). Give a rotated set oldest first
                            (events.jsonl.2 events.jsonl.1 events.jsonl). Prints FILE:LINE: problem;
                            exit 0 intact, 1 problems found, 2 usage.
  --partial                 The set may begin mid-chain (older rotated files were deleted).

Exit codes: 0 ok, 1 invalid configuration or rules, 2 usage error, 3 cannot listen, 4 check: denied.
`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined) {
    // A usage error: the help goes to stderr, so a script piping stdout sees nothing unexpected.
    process.stderr.write(HELP);
    return 2;
  }
  if (command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(HELP);
    return 0;
  }
  if (command === 'run') return run(rest);
  if (command === 'lint') return lint(rest);
  if (command === 'check') return check(rest);
  if (command === 'quarantine') return quarantineCommand(rest);
  if (command === 'suggest') return suggestCommand(rest);
  if (command === 'iptables') return iptablesCommand(rest);
  if (command === 'verify-log') return verifyLog(rest);
  process.stderr.write(`chokepoint: unknown command "${command}"\n\n${HELP}`);
  return 2;
}

async function run(args: string[]): Promise<number> {
  let values: { config?: string; rules?: string; http?: string; socks?: string; dns?: string; transparent?: string; events?: string; admin?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args,
      options: {
        config: { type: 'string' },
        rules: { type: 'string' },
        http: { type: 'string' },
        socks: { type: 'string' },
        dns: { type: 'string' },
        transparent: { type: 'string' },
        events: { type: 'string' },
        admin: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    process.stderr.write(`chokepoint run: ${messageOf(error)}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const base = values.config ? await loadConfigFile(values.config) : { ok: true as const, config: defaultConfig(process.cwd()) };
  const configured = base.ok ? applyCliOverrides(base.config, values, process.cwd()) : base;
  if (!configured.ok) {
    process.stderr.write(`chokepoint: invalid configuration:\n${formatConfigErrors(configured.errors)}\n`);
    return 1;
  }
  let proxy;
  try {
    proxy = await startProxy(configured.config);
  } catch (error) {
    if (error instanceof StartupError) {
      process.stderr.write(`chokepoint: ${error.message}\n`);
      return error instanceof ListenError ? 3 : 1;
    }
    throw error;
  }
  const where = [proxy.http && `http ${proxy.http.address}:${proxy.http.port}`, proxy.socks && `socks5 ${proxy.socks.address}:${proxy.socks.port}`, proxy.transparent && `transparent ${proxy.transparent.address}:${proxy.transparent.port}`, proxy.dns && `dns ${proxy.dns.address}:${proxy.dns.port}`, proxy.admin && `admin ${proxy.admin.address}:${proxy.admin.port}`].filter(Boolean).join(', ');
  process.stderr.write(`chokepoint: listening (${where}); rules ${configured.config.rulesDir}\n`);
  if (!configured.config.inspect) {
    process.stderr.write('chokepoint: WARNING inspect is false: tunnels are not classified, so protocol rules and detections are not enforced\n');
  }
  return new Promise((resolve) => {
    const shutdown = (signal: string): void => {
      process.stderr.write(`chokepoint: ${signal}, stopping\n`);
      proxy.stop().then(
        () => resolve(0),
        (error: unknown) => {
          process.stderr.write(`chokepoint: unclean stop: ${messageOf(error)}\n`);
          resolve(1);
        },
      );
    };
    process.once('SIGINT', () => shutdown('SIGINT'));
    process.once('SIGTERM', () => shutdown('SIGTERM'));
  });
}

async function verifyLog(args: string[]): Promise<number> {
  let parsed: { values: { partial?: boolean }; positionals: string[] };
  try {
    parsed = parseArgs({ args, options: { partial: { type: 'boolean' } }, strict: true, allowPositionals: true });
  } catch (error) {
    process.stderr.write(`chokepoint verify-log: ${messageOf(error)}\n`);
    return 2;
  }
  const files = parsed.positionals;
  if (files.length === 0) {
    process.stderr.write('usage: chokepoint verify-log [--partial] FILE [FILE…]  (a rotated set oldest first)\n');
    return 2;
  }
  const unreadable = await unreadableFiles(files);
  if (unreadable.length > 0) {
    process.stderr.write(`chokepoint verify-log: cannot read ${unreadable.join(', ')}\n`);
    return 2;
  }
  const report = await verifyLogFiles(files, { partial: parsed.values.partial === true });
  process.stdout.write(formatReport(report));
  return report.problems.length === 0 ? 0 : 1;
}

async function lint(args: string[]): Promise<number> {
  const dir = args[0] ?? 'rules';
  const loaded = await loadRules(dir);
  if (!loaded.ok) {
    process.stderr.write(`${formatConfigErrors(loaded.errors)}\n`);
    return 1;
  }
  process.stdout.write(`${dir}: ${loaded.ruleSet.agents.length} agent(s), ${loaded.files.length} file(s), no problems\n`);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`chokepoint: fatal: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  },
);
