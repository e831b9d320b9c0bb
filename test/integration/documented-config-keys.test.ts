import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { configFileSchema } from '../../src/config/config-schema.js';
import { REPO_ROOT, requireBuiltCli, runCli } from '../helpers/cli.js';

/**
 * Every top-level key of the config file (eight branches each added theirs) is documented: in the
 * README's config file example (or a section of its own, as `sinks:` has) and in `chokepoint --help`.
 */
const topLevelKeys = Object.keys(configFileSchema.in.shape);

describe('config keys are documented', () => {
  it('knows the keys', () => {
    expect(topLevelKeys).toContain('listen');
    expect(topLevelKeys).toContain('sinks');
  });

  it('every top-level key starts a line of a YAML example in the README', () => {
    const readme = readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');
    for (const key of topLevelKeys) expect(readme, key).toMatch(new RegExp(`^${key}:`, 'm'));
  });

  it('every top-level key is named by --help', async () => {
    requireBuiltCli();
    const help = await runCli(['--help']);
    const configText = /--config FILE\s+YAML config:([\s\S]*?)--rules DIR/.exec(help.stdout)?.[1] ?? '';
    for (const key of topLevelKeys) expect(configText, key).toMatch(new RegExp(`\\b${key}\\b`));
  });
});
