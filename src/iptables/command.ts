import { execFileSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { formatConfigErrors } from '../config/errors.js';
import { loadConfigFile } from '../config/load-config.js';
import { applySteps, IptablesError } from './apply.js';
import { installPlan, removePlan, validateOptions, type IptablesMode, type IptablesOptions } from './plan.js';
import { messageOf } from '../error-message.js';

/**
 * `chokepoint iptables install|remove`: the redirection that makes the transparent (and DNS) listeners
 * the agent's only way out. Ports come from the flags, else from the config file's listeners, else the
 * defaults below (Istio-style: 15001 for TCP; 15053 for DNS).
 */

export const DEFAULT_TRANSPARENT_PORT = 15001;
export const DEFAULT_DNS_PORT = 15053;

export const IPTABLES_USAGE =
  'usage: chokepoint iptables install|remove --mode sidecar|gateway [--proxy-user USER] [--dry-run]\n' +
  '                          [--transparent-port N] [--dns-port N] [--agent-interface IF] [--admin-port N]\n' +
  '                          [--config FILE]\n';

export async function iptablesCommand(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: {
        mode: { type: 'string' },
        'proxy-user': { type: 'string' },
        'dry-run': { type: 'boolean', default: false },
        'transparent-port': { type: 'string' },
        'dns-port': { type: 'string' },
        'agent-interface': { type: 'string' },
        'admin-port': { type: 'string' },
        config: { type: 'string' },
      },
      strict: true,
      allowPositionals: true,
    });
  } catch (error) {
    process.stderr.write(`chokepoint iptables: ${messageOf(error)}\n${IPTABLES_USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  const [action, ...extra] = positionals;
  if ((action !== 'install' && action !== 'remove') || extra.length > 0) {
    process.stderr.write(IPTABLES_USAGE);
    return 2;
  }
  const mode = values.mode;
  if (mode !== 'sidecar' && mode !== 'gateway') {
    process.stderr.write(`chokepoint iptables: --mode must be sidecar or gateway\n${IPTABLES_USAGE}`);
    return 2;
  }

  let configuredTransparent: number | undefined;
  let configuredDns: number | undefined;
  let configuredAdmin: number | undefined;
  if (values.config) {
    const loaded = await loadConfigFile(values.config);
    if (!loaded.ok) {
      process.stderr.write(`chokepoint: invalid configuration:\n${formatConfigErrors(loaded.errors)}\n`);
      return 1;
    }
    configuredTransparent = loaded.config.listen.transparent?.port;
    configuredDns = loaded.config.listen.dns?.port;
    configuredAdmin = loaded.config.listen.admin?.port;
  }
  const transparentPort = portOf(values['transparent-port'], configuredTransparent ?? DEFAULT_TRANSPARENT_PORT);
  const dnsPort = portOf(values['dns-port'], configuredDns ?? DEFAULT_DNS_PORT);
  const adminText = values['admin-port'];
  const adminPort = adminText !== undefined ? portOf(adminText, Number.NaN) : configuredAdmin;
  let proxyUid: number | undefined;
  if (values['proxy-user'] !== undefined) {
    const uid = uidOf(values['proxy-user']);
    if (typeof uid === 'string') {
      process.stderr.write(`chokepoint iptables: ${uid}\n`);
      return 2;
    }
    proxyUid = uid;
  }
  const options: IptablesOptions = {
    mode: mode satisfies IptablesMode,
    transparentPort,
    dnsPort,
    ...(proxyUid !== undefined ? { proxyUid } : {}),
    ...(values['agent-interface'] !== undefined ? { agentInterface: values['agent-interface'] } : {}),
    ...(adminPort !== undefined ? { adminPort } : {}),
  };
  const problem = action === 'install' ? validateOptions(options) : undefined;
  if (problem) {
    process.stderr.write(`chokepoint iptables: ${problem}\n`);
    return 2;
  }
  const steps = action === 'install' ? installPlan(options) : removePlan();
  try {
    await applySteps(steps, (line) => process.stdout.write(`${line}\n`), values['dry-run']);
  } catch (error) {
    if (!(error instanceof IptablesError)) throw error;
    process.stderr.write(`chokepoint iptables: ${error.message}\n`);
    return 1;
  }
  return 0;
}

/** NaN for text that is not a whole number: validateOptions reports it with the port's name. */
function portOf(text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  return /^\d{1,5}$/.test(text) ? Number(text) : Number.NaN;
}

/** A numeric uid as given, or the uid of a user name (looked up with `id -u`, which knows NSS). */
function uidOf(user: string): number | string {
  if (/^\d+$/.test(user)) return Number(user);
  if (!/^[a-z_][a-z0-9_.-]*\$?$/i.test(user)) return `"${user}" is not a user name`;
  try {
    return Number(execFileSync('id', ['-u', '--', user], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
  } catch {
    return `no user named "${user}"`;
  }
}
