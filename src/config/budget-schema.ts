/**
 * Zod schema of `budgets:` in an agent file. Sizes and durations are written the human way (`500MiB`,
 * `10m`, src/config/quantities.ts); they come out as bytes and milliseconds.
 */
import { z } from 'zod';
import type { AgentBudgets } from '../budgets/types.js';
import { parseByteSize, parseDurationSeconds } from './quantities.js';

/** Timers hold at most 2^31-1 ms; a window or a max beyond ~24 days would fire at once. */
const MAX_MS = 2_147_483_647;

const durationMs = z.unknown().transform((value, ctx) => {
  const parsed = parseDurationSeconds(value);
  if (!parsed.ok) {
    ctx.addIssue({ code: 'custom', message: parsed.message });
    return z.NEVER;
  }
  const ms = Math.round(parsed.value * 1000);
  if (ms > MAX_MS) {
    ctx.addIssue({ code: 'custom', message: 'is longer than 24 days' });
    return z.NEVER;
  }
  return ms;
});

const byteSize = z.unknown().transform((value, ctx) => {
  const parsed = parseByteSize(value);
  if (!parsed.ok) {
    ctx.addIssue({ code: 'custom', message: parsed.message });
    return z.NEVER;
  }
  return parsed.value;
});

const action = z.enum(['alert', 'deny', 'quarantine']);

export const budgetsSchema = z
  .strictObject({
    bytes_out: z.strictObject({ limit: byteSize, window: durationMs, action }).optional(),
    new_destinations: z
      .strictObject({ limit: z.int().min(1, 'limit is at least 1').max(100_000, 'limit is at most 100000'), window: durationMs, action })
      .optional(),
    connection_duration: z.strictObject({ max: durationMs, action }).optional(),
  })
  .nullish()
  .transform((raw): AgentBudgets | undefined => {
    if (!raw) return undefined;
    const budgets: AgentBudgets = {};
    if (raw.bytes_out) budgets.bytesOut = { limit: raw.bytes_out.limit, windowMs: raw.bytes_out.window, action: raw.bytes_out.action };
    if (raw.new_destinations) budgets.newDestinations = { limit: raw.new_destinations.limit, windowMs: raw.new_destinations.window, action: raw.new_destinations.action };
    if (raw.connection_duration) budgets.connectionDuration = { maxMs: raw.connection_duration.max, action: raw.connection_duration.action };
    return Object.keys(budgets).length > 0 ? budgets : undefined;
  });
