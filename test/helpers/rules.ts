import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** A throwaway rules directory: `policy.yaml` plus one YAML file per agent, written as given. */
export interface TempRules {
  dir: string;
  writeAgent(name: string, yaml: string): Promise<void>;
  writePolicy(yaml: string): Promise<void>;
  remove(): Promise<void>;
}

export async function tempRules(policy: string, agents: Record<string, string>): Promise<TempRules> {
  const dir = await mkdtemp(path.join(tmpdir(), 'chokepoint-rules-'));
  await mkdir(path.join(dir, 'agents'));
  const rules: TempRules = {
    dir,
    writeAgent: (name, yaml) => writeFile(path.join(dir, 'agents', `${name}.yaml`), yaml),
    writePolicy: (yaml) => writeFile(path.join(dir, 'policy.yaml'), yaml),
    remove: () => rm(dir, { recursive: true, force: true }),
  };
  await rules.writePolicy(policy);
  for (const [name, yaml] of Object.entries(agents)) await rules.writeAgent(name, yaml);
  return rules;
}

export const DENY_UNKNOWN_POLICY = 'unknown_agent: deny\nrequire_credentials: false\ndeny: []\n';
