import path from 'node:path';
import { parseArgs } from 'node:util';
import { formatConfigError, formatConfigErrors } from '../config/errors.js';
import { applyCliOverrides, defaultConfig, loadConfigFile } from '../config/load-config.js';
import { loadRules } from '../config/load-rules.js';
import { Resolver } from '../net/resolver.js';
import { buildSnapshot } from '../pipeline/build-snapshot.js';
import { dryRunDecision, parseTargetText } from '../pipeline/dry-run.js';
import { decideBody } from '../admin/schemas.js';
import { QuarantineStore } from '../quarantine/store.js';
import { messageOf } from '../error-message.js';

/**
 * `chokepoint check --agent A HOST:PORT [--protocol P]`: what the proxy would decide, with the same
 * dry-run as the admin API's POST /v1/decide (rules, quarantine state, DNS, SSRF vetting, protocol).
 */

/** Exit code of a denial, so scripts can tell "refused" from "the check itself failed" (1, 2). */
export const CHECK_DENIED_EXIT = 4;

export const CHECK_USAGE = 'usage: chokepoint check --agent AGENT HOST:PORT [--protocol P] [--config FILE] [--rules DIR] [--state DIR] [--json]\n';

export async function check(args: string[]): Promise<number> {
  let parsed: { values: { agent?: string; protocol?: string; config?: string; rules?: string; state?: string; json?: boolean }; positionals: string[] };
  try {
    parsed = parseArgs({
      args,
      options: {
        agent: { type: 'string' },
        protocol: { type: 'string' },
        config: { type: 'string' },
        rules: { type: 'string' },
        state: { type: 'string' },
        json: { type: 'boolean' },
      },
      strict: true,
      allowPositionals: true,
    });
  } catch (error) {
    process.stderr.write(`chokepoint check: ${messageOf(error)}\n${CHECK_USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  const [targetText, ...extra] = positionals;
  if (values.agent === undefined || targetText === undefined || extra.length > 0) {
    process.stderr.write(CHECK_USAGE);
    return 2;
  }
  const target = parseTargetText(targetText);
  // The admin API's schema judges the fields, so both front doors accept the same input.
  const fields = decideBody.safeParse({ agent: values.agent, target: target ?? targetText, ...(values.protocol !== undefined ? { protocol: values.protocol } : {}) });
  if (!target || !fields.success) {
    const why = !target ? `target ${JSON.stringify(targetText)} is not HOST:PORT ([v6]:PORT for IPv6)` : fields.error?.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ');
    process.stderr.write(`chokepoint check: ${why}\n${CHECK_USAGE}`);
    return 2;
  }

  const base = values.config ? await loadConfigFile(values.config) : { ok: true as const, config: defaultConfig(process.cwd()) };
  const configured = base.ok ? applyCliOverrides(base.config, values.rules !== undefined ? { rules: values.rules } : {}, process.cwd()) : base;
  if (!configured.ok) {
    process.stderr.write(`chokepoint: invalid configuration:\n${formatConfigErrors(configured.errors)}\n`);
    return 1;
  }
  const config = configured.config;
  const loaded = await loadRules(config.rulesDir);
  if (!loaded.ok) {
    process.stderr.write(`chokepoint: rules in ${config.rulesDir} are invalid:\n${loaded.errors.map(formatConfigError).join('\n')}\n`);
    return 1;
  }
  const built = buildSnapshot(loaded.ruleSet);
  if (!built.ok) {
    process.stderr.write(`chokepoint: rules in ${config.rulesDir} are invalid:\n${built.errors.join('\n')}\n`);
    return 1;
  }
  let quarantine: QuarantineStore;
  try {
    quarantine = await QuarantineStore.openIn(values.state !== undefined ? path.resolve(values.state) : config.stateDir);
  } catch (error) {
    process.stderr.write(`chokepoint: ${messageOf(error)}\n`);
    return 1;
  }
  const resolver = new Resolver({ hosts: config.hosts, ...config.dns });
  const outcome = await dryRunDecision(
    { snapshot: built.snapshot, resolve: (host) => resolver.resolve(host), quarantined: (agent) => quarantine.get(agent) },
    { agent: fields.data.agent, host: target.host, port: target.port, ...(fields.data.protocol ? { protocol: fields.data.protocol } : {}) },
  );
  if (!outcome.ok) {
    process.stderr.write(`chokepoint check: ${outcome.message}\n`);
    return 2;
  }
  const result = outcome.result;
  if (values.json) {
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } else {
    const enforcement = result.action === 'deny' && !result.enforced ? ' (audit mode: reported, not enforced)' : '';
    process.stdout.write(`${result.action}${enforcement}\nagent:  ${result.agent} (${result.mode})\nrule:   ${result.rule}\nstage:  ${result.stage}\n`);
    if (result.reason !== undefined) process.stdout.write(`reason: ${result.reason}\n`);
    if (result.addresses.length > 0) process.stdout.write(`addresses: ${result.addresses.join(', ')}\n`);
    for (const finding of result.findings) process.stdout.write(`finding: ${finding.kind} (${finding.confidence}, ${finding.action}): ${finding.evidence}\n`);
  }
  return result.action === 'deny' ? CHECK_DENIED_EXIT : 0;
}
