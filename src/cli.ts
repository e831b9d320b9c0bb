#!/usr/bin/env node
import path from 'node:path';
import { parseArgs } from 'node:util';
import { formatConfigErrors } from './config/errors.js';
import { applyCliOverrides, defaultConfig, loadConfigFile } from './config/load-config.js';
import { loadRules } from './config/load-rules.js';
import { QuarantineStore } from './quarantine/store.js';
import { check } from './commands/check.js';
import { ListenError, startProxy, StartupError } from './server.js';

const HELP = `chokepoint — egress-inspecting forward proxy for sandboxed AI agents

Usage:
  chokepoint run [--config FILE] [--rules DIR] [--http HOST:PORT] [--socks HOST:PORT] [--dns HOST:PORT]
                 [--events FILE] [--admin HOST:PORT]
  chokepoint check --agent AGENT HOST:PORT [--protocol P] [--config FILE] [--rules DIR] [--state DIR] [--json]
  chokepoint lint [RULES_DIR]
  chokepoint quarantine list|release [AGENT] [--config FILE] [--state DIR]
  chokepoint --help

run      Start the proxy.
  --config FILE       YAML config: listen, rules, state_dir, certs_dir, events, hosts, dns, timeouts,
                      limits (see README).
  --rules DIR         Rules directory (policy.yaml, agents/*.yaml). Default: ./rules
  --http HOST:PORT    HTTP forward proxy + CONNECT listener. Default: 127.0.0.1:3128
  --socks HOST:PORT   SOCKS5 listener. Default: 127.0.0.1:1080
  --dns HOST:PORT     DNS server for agents (UDP and TCP), e.g. 127.0.0.1:5353. Default: off.
                      Answers only names the agent's rules can reach, vets the addresses, forwards to
                      dns.upstreams (config; default: the system's resolvers).
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

lint     Validate a rules directory (default ./rules); prints file:line: key: problem; exit 1 on errors.

quarantine list             Agents in quarantine (from the state directory: --state DIR, or the
                            config file's state_dir, default ./.chokepoint-state).
quarantine release AGENT    Release an agent. A running proxy applies it on its next reload: send it
                            SIGHUP (or touch a rules file).

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
  if (command === 'quarantine') return quarantine(rest);
  process.stderr.write(`chokepoint: unknown command "${command}"\n\n${HELP}`);
  return 2;
}

async function run(args: string[]): Promise<number> {
  let values: { config?: string; rules?: string; http?: string; socks?: string; dns?: string; events?: string; admin?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args,
      options: {
        config: { type: 'string' },
        rules: { type: 'string' },
        http: { type: 'string' },
        socks: { type: 'string' },
        dns: { type: 'string' },
        events: { type: 'string' },
        admin: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    process.stderr.write(`chokepoint run: ${error instanceof Error ? error.message : String(error)}\n`);
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
  const where = [proxy.http && `http ${proxy.http.address}:${proxy.http.port}`, proxy.socks && `socks5 ${proxy.socks.address}:${proxy.socks.port}`, proxy.dns && `dns ${proxy.dns.address}:${proxy.dns.port}`, proxy.admin && `admin ${proxy.admin.address}:${proxy.admin.port}`].filter(Boolean).join(', ');
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
          process.stderr.write(`chokepoint: unclean stop: ${error instanceof Error ? error.message : String(error)}\n`);
          resolve(1);
        },
      );
    };
    process.once('SIGINT', () => shutdown('SIGINT'));
    process.once('SIGTERM', () => shutdown('SIGTERM'));
  });
}

async function quarantine(args: string[]): Promise<number> {
  let parsed: { values: { config?: string; state?: string }; positionals: string[] };
  try {
    parsed = parseArgs({ args, options: { config: { type: 'string' }, state: { type: 'string' } }, strict: true, allowPositionals: true });
  } catch (error) {
    process.stderr.write(`chokepoint quarantine: ${error instanceof Error ? error.message : String(error)}\n`);
    return 2;
  }
  const [action, agent, ...extra] = parsed.positionals;
  if ((action !== 'list' && action !== 'release') || (action === 'release') !== (agent !== undefined) || extra.length > 0) {
    process.stderr.write('usage: chokepoint quarantine list | release AGENT [--config FILE] [--state DIR]\n');
    return 2;
  }
  let stateDir = parsed.values.state ? path.resolve(parsed.values.state) : defaultConfig(process.cwd()).stateDir;
  if (parsed.values.config && !parsed.values.state) {
    const loaded = await loadConfigFile(parsed.values.config);
    if (!loaded.ok) {
      process.stderr.write(`chokepoint: invalid configuration:\n${formatConfigErrors(loaded.errors)}\n`);
      return 1;
    }
    stateDir = loaded.config.stateDir;
  }
  let store: QuarantineStore;
  try {
    store = await QuarantineStore.openIn(stateDir);
  } catch (error) {
    process.stderr.write(`chokepoint: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
  if (action === 'list') {
    const entries = store.list();
    if (entries.length === 0) process.stdout.write('no agent is quarantined\n');
    for (const entry of entries) process.stdout.write(`${entry.agent}\tsince ${entry.since}\t${entry.reason}\n`);
    return 0;
  }
  if (!agent || !(await store.release(agent))) {
    process.stderr.write(`chokepoint: agent ${agent ?? ''} is not quarantined\n`);
    return 1;
  }
  process.stdout.write(`released ${agent}; send SIGHUP to a running proxy to apply it now\n`);
  return 0;
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
