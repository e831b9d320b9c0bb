/**
 * Reads a rules directory:
 *
 *   rules/policy.yaml          optional; global denies and the unknown-agent setting
 *   rules/agents/<name>.yaml   one file per agent
 *   rules/<anything else>      ignored (intel/ lists, README.md, ...)
 *
 * Never throws: every problem of every file is collected and returned, so an operator fixes them in one go.
 * Dot-files are skipped, which covers editor swap files and the `..data` links of a Kubernetes ConfigMap.
 */
import type { Stats } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { RuleSet } from '../policy/types.js';
import { AGENT_FILE_EXTENSION, buildRuleSet, type RuleFileText } from './build-rule-set.js';
import { sortConfigErrors, type ConfigError } from './errors.js';
import { loadIntel } from './load-intel.js';
import { messageOf } from '../error-message.js';

const POLICY_FILE_NAME = 'policy.yaml';
const AGENTS_DIR_NAME = 'agents';

export type LoadRulesResult =
  | {
      ok: true;
      ruleSet: RuleSet;
      /** Every file that went into the rule set, for reload events and `chokepoint check`. */
      files: string[];
    }
  | { ok: false; errors: ConfigError[] };

export async function loadRules(dir: string): Promise<LoadRulesResult> {
  const dirStats = await statOrProblem(dir);
  if (!('stats' in dirStats) || !dirStats.stats.isDirectory()) {
    const reason = 'problem' in dirStats ? dirStats.problem : 'is not a directory';
    return { ok: false, errors: [fileError(dir, `cannot read the rules directory: ${reason}`)] };
  }

  const errors: ConfigError[] = [];
  const policyFile = path.join(dir, POLICY_FILE_NAME);
  const policyText = await readText(policyFile, errors, 'absent');
  const policy = policyText === undefined ? undefined : { file: policyFile, text: policyText };
  const agentFiles = await listAgentFiles(path.join(dir, AGENTS_DIR_NAME), errors);
  const agents: RuleFileText[] = [];
  for (const file of agentFiles) {
    const text = await readText(file, errors, 'error');
    if (text !== undefined) agents.push({ file, text });
  }

  const built = buildRuleSet({ policy, agents });
  if (!built.ok) errors.push(...built.errors);
  const intel = await loadIntel(dir, errors);
  if (!built.ok || errors.length > 0) return { ok: false, errors: sortConfigErrors(errors) };
  return {
    ok: true,
    ruleSet: { ...built.ruleSet, intel: intel.intel },
    files: [...[policy, ...agents].flatMap((text) => (text === undefined ? [] : [text.file])), ...intel.files],
  };
}

/**
 * The agent files, sorted for a stable load order. Anything that looks like an agent file but would not be
 * read (a `.yml` spelling, a subdirectory) is an error rather than silently ignored: an operator who wrote a
 * policy expects it to apply.
 */
async function listAgentFiles(agentsDir: string, errors: ConfigError[]): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(agentsDir);
  } catch (problem) {
    // No agents directory: every client is unknown, which is a valid (deny-all) policy.
    if (errorCode(problem) !== 'ENOENT') errors.push(fileError(agentsDir, `cannot list: ${describe(problem)}`));
    return [];
  }

  const files: string[] = [];
  for (const name of names.sort()) {
    if (name.startsWith('.')) continue;
    const file = path.join(agentsDir, name);
    if (name.endsWith('.yml')) {
      const renamed = `${path.basename(name, '.yml')}${AGENT_FILE_EXTENSION}`;
      errors.push(fileError(file, `agent files end in ${AGENT_FILE_EXTENSION}; rename it to ${renamed}`));
      continue;
    }
    // stat follows symbolic links, so linked files (as a ConfigMap mounts them) count as files.
    const entry = await statOrProblem(file);
    if ('problem' in entry) {
      errors.push(fileError(file, `cannot read: ${entry.problem}`));
    } else if (entry.stats.isDirectory()) {
      errors.push(fileError(file, `is a directory; agent files live directly in ${AGENTS_DIR_NAME}/`));
    } else if (name.endsWith(AGENT_FILE_EXTENSION)) {
      files.push(file);
    }
  }
  return files;
}

/** Reads a file as UTF-8; a missing file is an error unless `missing` says it may be absent. */
async function readText(file: string, errors: ConfigError[], missing: 'error' | 'absent'): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (problem) {
    if (missing === 'error' || errorCode(problem) !== 'ENOENT') {
      errors.push(fileError(file, `cannot read: ${describe(problem)}`));
    }
    return undefined;
  }
}

async function statOrProblem(file: string): Promise<{ stats: Stats } | { problem: string }> {
  try {
    return { stats: await stat(file) };
  } catch (problem) {
    return { problem: describe(problem) };
  }
}

function fileError(file: string, message: string): ConfigError {
  return { file, line: 0, path: '', message };
}

function errorCode(problem: unknown): string | undefined {
  if (problem instanceof Error && 'code' in problem && typeof problem.code === 'string') return problem.code;
  return undefined;
}

function describe(problem: unknown): string {
  return messageOf(problem);
}
