/**
 * Runs bench/policy-decide.ts's exported main() (written separately; it times policy decisions against
 * 100k rules) in its own process, so the runner can bound it with a timeout and the measurement does not
 * share a heap with anything else. Reports `found: false` when that file is not there (yet).
 */
import { access } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import type { PolicyDecideOutput } from '../protocol.js';
import { runClientMain } from './child-main.js';

const MODULE_URL = new URL('../policy-decide.js', import.meta.url);

async function runPolicyDecide(): Promise<PolicyDecideOutput> {
  const present = await access(fileURLToPath(MODULE_URL)).then(
    () => true,
    () => false,
  );
  if (!present) return { found: false };
  const loaded: unknown = await import(MODULE_URL.href);
  if (typeof loaded !== 'object' || loaded === null || !('main' in loaded) || typeof loaded.main !== 'function') {
    throw new Error('bench/policy-decide.js does not export a main() function');
  }
  const result: unknown = await loaded.main();
  return { found: true, result: result ?? null };
}

runClientMain(z.object({}), runPolicyDecide);
