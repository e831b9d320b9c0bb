/**
 * The `quarantine:` section of the config file: how long a quarantine lasts by default (and per
 * detection kind), and the webhooks told when an agent enters or leaves quarantine (so a trainer can
 * pause the job). Header values may reference `${env:NAME}` or `${file:/absolute/path}` so that tokens
 * live in the environment or a mounted secret, not in the config; references are resolved at each call
 * (a rotated secret is picked up) and never logged.
 */
import path from 'node:path';
import { z } from 'zod';
import { DETECTION_KINDS } from '../policy/types.js';

export type QuarantineTransition = 'quarantined' | 'released';

export interface WebhookConfig {
  url: string;
  /** Header name → value template (may hold `${env:NAME}` / `${file:/path}` references). */
  headers: Record<string, string>;
  timeoutMs: number;
  on: QuarantineTransition[];
  /** Attempts after the first one fails; each waits `backoffMs` × 2^(attempt-1), capped at 30 s. */
  retries: number;
  backoffMs: number;
}

export interface QuarantineConfig {
  /** Seconds a quarantine lasts when nothing more specific says; null = until an operator releases it. */
  defaultDurationS: number | null;
  /** Per detection kind (e.g. `mining_port: 600`), for detection-triggered quarantines. */
  durationsS: Partial<Record<string, number>>;
  webhooks: WebhookConfig[];
}

export const DEFAULT_QUARANTINE_CONFIG: QuarantineConfig = { defaultDurationS: null, durationsS: {}, webhooks: [] };

/** `${env:NAME}` or `${file:/path}`; anything else in `${…}` is an error rather than sent verbatim. */
export const SECRET_REFERENCE = /\$\{([a-z]+):([^}]*)\}/g;

const headerValueSchema = z
  .string()
  .regex(/^[^\r\n]*$/, 'header values are one line')
  .superRefine((value, ctx) => {
    for (const [, kind, target] of value.matchAll(SECRET_REFERENCE)) {
      if (kind === 'env' && !/^[A-Za-z_][A-Za-z0-9_]*$/.test(target ?? '')) ctx.addIssue({ code: 'custom', message: `\${env:${target}} is not an environment variable name` });
      else if (kind === 'file' && !path.isAbsolute(target ?? '')) ctx.addIssue({ code: 'custom', message: `\${file:${target}} needs an absolute path` });
      else if (kind !== 'env' && kind !== 'file') ctx.addIssue({ code: 'custom', message: `\${${kind}:…} is not a reference; use \${env:NAME} or \${file:/path}` });
    }
  });

const webhookSchema = z
  .strictObject({
    url: z.url({ protocol: /^https?$/, error: 'url must be an http:// or https:// URL' }),
    headers: z.record(z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, 'not a header name'), headerValueSchema).default({}),
    timeout_ms: z.int().min(1).max(120_000).default(5_000),
    on: z.array(z.enum(['quarantined', 'released'])).min(1, 'lists no transition').default(['quarantined', 'released']),
    retries: z.int().min(0).max(20).default(5),
    backoff_ms: z.int().min(1).max(60_000).default(500),
  })
  .transform(
    (hook): WebhookConfig => ({
      url: hook.url,
      headers: hook.headers,
      timeoutMs: hook.timeout_ms,
      on: [...new Set(hook.on)],
      retries: hook.retries,
      backoffMs: hook.backoff_ms,
    }),
  );

/** setTimeout holds at most 2^31-1 ms; longer quarantines are re-armed (see the expiry timer). */
const durationSeconds = z.int().min(1, 'a duration is at least 1 second').max(10 * 365 * 86_400, 'a duration is at most 10 years');

export const quarantineConfigSchema = z
  .strictObject({
    default_duration_s: durationSeconds.nullable().default(null),
    durations_s: z.partialRecord(z.enum(DETECTION_KINDS), durationSeconds).nullish(),
    webhooks: z.array(webhookSchema).nullish(),
  })
  .prefault({})
  .transform(
    (raw): QuarantineConfig => ({
      defaultDurationS: raw.default_duration_s,
      durationsS: { ...raw.durations_s },
      webhooks: raw.webhooks ?? [],
    }),
  );
