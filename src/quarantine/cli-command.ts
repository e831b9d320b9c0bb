import path from 'node:path';
import { parseArgs } from 'node:util';
import { formatConfigErrors } from '../config/errors.js';
import { defaultConfig, loadConfigFile } from '../config/load-config.js';
import { parseDurationSeconds } from '../config/quantities.js';
import { AGENT_NAME_PATTERN } from '../config/schema.js';
import { QuarantineStore } from './store.js';
import { messageOf } from '../error-message.js';

/**
 * `chokepoint quarantine list | release AGENT | add AGENT [--reason R] [--for DURATION]`: edits the state
 * file a running proxy reads on reload (SIGHUP), which then announces the change, closes the agent's
 * live flows (add) and calls the webhooks.
 */

const USAGE = 'usage: chokepoint quarantine list | release AGENT | add AGENT [--reason R] [--for DURATION] [--config FILE] [--state DIR]\n';

interface Flags {
  config?: string;
  state?: string;
  reason?: string;
  for?: string;
}

export async function quarantineCommand(args: string[]): Promise<number> {
  let parsed: { values: Flags; positionals: string[] };
  try {
    parsed = parseArgs({
      args,
      options: { config: { type: 'string' }, state: { type: 'string' }, reason: { type: 'string' }, for: { type: 'string' } },
      strict: true,
      allowPositionals: true,
    });
  } catch (error) {
    process.stderr.write(`chokepoint quarantine: ${messageOf(error)}\n`);
    return 2;
  }
  const [action, agent, ...extra] = parsed.positionals;
  const wantsAgent = action === 'release' || action === 'add';
  const addOnly = parsed.values.reason !== undefined || parsed.values.for !== undefined;
  if ((action !== 'list' && !wantsAgent) || wantsAgent !== (agent !== undefined) || extra.length > 0 || (addOnly && action !== 'add')) {
    process.stderr.write(USAGE);
    return 2;
  }
  let durationS: number | null | undefined;
  if (parsed.values.for !== undefined) {
    const duration = parseDurationSeconds(parsed.values.for);
    if (!duration.ok) {
      process.stderr.write(`chokepoint quarantine: --for: ${duration.message}\n`);
      return 2;
    }
    durationS = duration.value;
  }
  if (action === 'add' && !AGENT_NAME_PATTERN.test(agent ?? '')) {
    process.stderr.write(`chokepoint quarantine: "${agent ?? ''}" is not an agent name\n`);
    return 2;
  }
  const reason = parsed.values.reason ?? 'operator';
  if (/[\u0000-\u001f\u007f]/.test(reason) || reason.trim() === '') {
    process.stderr.write('chokepoint quarantine: --reason must be one line of text\n');
    return 2;
  }

  let stateDir = parsed.values.state ? path.resolve(parsed.values.state) : defaultConfig(process.cwd()).stateDir;
  if (parsed.values.config) {
    const loaded = await loadConfigFile(parsed.values.config);
    if (!loaded.ok) {
      process.stderr.write(`chokepoint: invalid configuration:\n${formatConfigErrors(loaded.errors)}\n`);
      return 1;
    }
    if (!parsed.values.state) stateDir = loaded.config.stateDir;
    if (durationS === undefined) durationS = loaded.config.quarantine.defaultDurationS;
  }
  let store: QuarantineStore;
  try {
    store = await QuarantineStore.openIn(stateDir);
  } catch (error) {
    process.stderr.write(`chokepoint: ${messageOf(error)}\n`);
    return 1;
  }
  if (action === 'list') {
    const entries = store.list();
    if (entries.length === 0) process.stdout.write('no agent is quarantined\n');
    for (const entry of entries) {
      process.stdout.write(`${entry.agent}\tsince ${entry.since}\t${entry.expiresAt ? `until ${entry.expiresAt}` : 'until released'}\t${entry.reason}\n`);
    }
    return 0;
  }
  if (action === 'add' && agent) {
    if (store.get(agent)) {
      process.stderr.write(`chokepoint: agent ${agent} is already quarantined\n`);
      return 1;
    }
    const now = new Date();
    const expiresAt = durationS ? new Date(now.getTime() + durationS * 1000).toISOString() : undefined;
    await store.add({ agent, since: now.toISOString(), reason, trigger: 'operator', ...(expiresAt ? { expiresAt } : {}) });
    process.stdout.write(`quarantined ${agent} ${expiresAt ? `until ${expiresAt}` : 'until released'}; send SIGHUP to a running proxy to apply it now\n`);
    return 0;
  }
  if (!agent || !(await store.release(agent))) {
    process.stderr.write(`chokepoint: agent ${agent ?? ''} is not quarantined\n`);
    return 1;
  }
  process.stdout.write(`released ${agent}; send SIGHUP to a running proxy to apply it now\n`);
  return 0;
}
