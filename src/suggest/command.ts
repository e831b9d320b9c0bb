import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { formatConfigErrors } from '../config/errors.js';
import { loadRules } from '../config/load-rules.js';
import { buildSnapshot } from '../pipeline/build-snapshot.js';
import type { PolicySnapshot } from '../pipeline/policy-snapshot.js';
import { collect, type AgentFindings } from './collect.js';
import { ruleLine, suggestRules } from './group.js';
import { readEventStream, type ReadResult } from './read-events.js';
import { allowDiff } from './yaml-diff.js';
import { messageOf } from '../error-message.js';

/**
 * `chokepoint suggest [--events FILE…] [--rules DIR] [--agent NAME]`: from what agents were refused
 * (audit-mode runs above all), the allow rules that would have let them through, as a diff of each
 * agent's file, and what is deliberately not suggested with the reason. It only reads; exit 0 unless
 * the arguments, the logs or the rules cannot be read.
 */

const USAGE = 'usage: chokepoint suggest [--events FILE]... [--rules DIR] [--agent NAME]\n';

export async function suggestCommand(args: string[]): Promise<number> {
  let values: { events?: string[]; rules?: string; agent?: string };
  try {
    ({ values } = parseArgs({
      args,
      options: { events: { type: 'string', multiple: true }, rules: { type: 'string' }, agent: { type: 'string' } },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    process.stderr.write(`chokepoint suggest: ${messageOf(error)}\n${USAGE}`);
    return 2;
  }
  const read: ReadResult = { events: [], badLines: 0 };
  const files = values.events ?? ['-'];
  for (const file of files) {
    try {
      await readEventStream(file === '-' ? process.stdin : createReadStream(file), read);
    } catch (error) {
      process.stderr.write(`chokepoint suggest: cannot read ${file}: ${messageOf(error)}\n`);
      return 1;
    }
  }
  const rulesDir = values.rules ?? 'rules';
  const loaded = await loadRules(rulesDir);
  let snapshot: PolicySnapshot | undefined;
  if (loaded.ok) {
    const built = buildSnapshot(loaded.ruleSet);
    if (built.ok) snapshot = built.snapshot;
  } else {
    process.stderr.write(`chokepoint suggest: rules in ${rulesDir} are invalid; suggesting from the events alone:\n${formatConfigErrors(loaded.errors)}\n`);
  }
  const byAgent = collect(read.events, snapshot, values.agent);
  const out: string[] = [`# chokepoint suggest: ${read.events.length} events from ${files.length} file(s)${read.badLines > 0 ? `, ${read.badLines} unreadable line(s) skipped` : ''}`];
  for (const findings of [...byAgent.values()].sort((a, b) => a.agent.localeCompare(b.agent))) {
    out.push(...(await agentReport(findings, rulesDir)));
  }
  if (byAgent.size === 0) out.push('# nothing to suggest: no agent was refused in these events');
  process.stdout.write(`${out.join('\n')}\n`);
  return 0;
}

async function agentReport(findings: AgentFindings, rulesDir: string): Promise<string[]> {
  const rules = suggestRules(findings);
  if (rules.length === 0 && findings.excluded.size === 0) return [];
  const file = path.join(rulesDir, 'agents', `${findings.agent}.yaml`);
  const lines: string[] = ['', `# agent ${findings.agent}: ${rules.length} allow rule(s) suggested`];
  if (rules.length > 0) {
    const original = await readFile(file, 'utf8').catch(() => undefined);
    lines.push(allowDiff(file, findings.agent, original, (indent) => rules.map((rule) => ruleLine(rule, indent))));
  }
  if (findings.excluded.size > 0) {
    lines.push(`# not suggested for ${findings.agent}, because:`);
    for (const [key, why] of [...findings.excluded].sort(([a], [b]) => a.localeCompare(b))) lines.push(`#   ${key}: ${why}`);
  }
  return lines;
}
