/**
 * The policy-decision figure (ns per decision with 100k rules) comes from bench/policy-decide.ts, written
 * separately; this runs its main() in a child process and reads the figure out of what it returns.
 */
import { z } from 'zod';
import { runLoadClient } from '../proc/load-process.js';
import { policyDecideOutputSchema } from '../protocol.js';

const TIMEOUT_MS = 110_000;

export type PolicyDecisionOutcome =
  | { status: 'missing' }
  | { status: 'failed'; reason: string }
  /** `nsPerDecision` is null when main() returned something we do not know how to read (shown raw). */
  | { status: 'measured'; nsPerDecision: number | null; raw: unknown };

/** main() may resolve to the figure itself or to an object carrying it as `nsPerDecision`. */
const figureSchema = z.union([
  z.number().positive(),
  z.looseObject({ nsPerDecision: z.number().positive() }).transform((result) => result.nsPerDecision),
]);

export async function measurePolicyDecision(): Promise<PolicyDecisionOutcome> {
  try {
    const output = await runLoadClient('policy-decide-child', {}, policyDecideOutputSchema, TIMEOUT_MS);
    if (!output.found) return { status: 'missing' };
    const figure = figureSchema.safeParse(output.result);
    return { status: 'measured', nsPerDecision: figure.success ? figure.data : null, raw: output.result };
  } catch (error) {
    return { status: 'failed', reason: error instanceof Error ? error.message : String(error) };
  }
}
