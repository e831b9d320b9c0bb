/**
 * Zod schemas for the files in `rules/`: their shape, and the normalisation of every value whose
 * spelling varies (host names, CIDRs, ports, token digests). Unknown keys are errors everywhere, because a
 * typo such as `alow:` or `hots:` must not silently widen or narrow a policy.
 *
 * What one file cannot know (source ranges or users claimed twice, duplicate rule ids, the `unknown_agent`
 * target) is checked in build-rule-set.ts.
 */
import { z } from 'zod';
import type { ProtocolName } from '../inspect/types.js';
import { parseCidr } from '../net/address.js';
import { BUILT_IN_UNKNOWN_AGENT, UNKNOWN_AGENT_DENY } from '../policy/compile.js';
import { DEFAULT_DETECTION_ACTIONS, DETECTION_KINDS } from '../policy/types.js';
import { budgetsSchema } from './budget-schema.js';
import { normaliseHostPattern } from './host-pattern.js';
import { parsePortList } from './ports.js';
import { sshInterceptionSchema } from './ssh-interception-schema.js';

export const AGENT_NAME_PATTERN = /^[a-z0-9][a-z0-9._-]*$/;
/**
 * Names no agent may take: `unknown_agent: deny` selects the built-in deny-all policy, and that policy is
 * called "unknown" in events, so an agent of either name would be mistaken for it.
 */
const RESERVED_AGENT_NAMES: readonly string[] = [UNKNOWN_AGENT_DENY, BUILT_IN_UNKNOWN_AGENT];

const agentNameSchema = z
  .string()
  .max(128, 'agent names are at most 128 characters')
  .regex(
    AGENT_NAME_PATTERN,
    'agent names are lower-case letters, digits, ".", "_" and "-", starting with a letter or digit',
  )
  .refine((name) => !RESERVED_AGENT_NAMES.includes(name), {
    message: `"${UNKNOWN_AGENT_DENY}" and "${BUILT_IN_UNKNOWN_AGENT}" are reserved for the built-in deny-all policy`,
  });

/** Mapped type: adding a name to ProtocolName fails compilation here until it is listed. */
const PROTOCOL_NAMES: { readonly [Name in ProtocolName]: Name } = {
  tls: 'tls',
  http: 'http',
  http2: 'http2',
  websocket: 'websocket',
  ssh: 'ssh',
  stratum: 'stratum',
  socks: 'socks',
  'proxy-protocol': 'proxy-protocol',
  'reverse-shell': 'reverse-shell',
  unknown: 'unknown',
  opaque: 'opaque',
};

const cidrSchema = z.string().transform((text, ctx) => {
  const parsed = parseCidr(text);
  if ('error' in parsed) {
    ctx.addIssue({ code: 'custom', message: `not a CIDR: ${parsed.error}` });
    return z.NEVER;
  }
  return parsed.canonical;
});

const hostPatternSchema = z.string().transform((text, ctx) => {
  const parsed = normaliseHostPattern(text);
  if (!parsed.ok) {
    ctx.addIssue({ code: 'custom', message: parsed.message });
    return z.NEVER;
  }
  return parsed.pattern;
});

/** Accepts `443`, `[443, "8000-8100"]`, `"*"`; bad elements are reported at their own index. */
const portsSchema = z.unknown().transform((value, ctx) => {
  const parsed = parsePortList(value);
  if (!parsed.ok) {
    for (const error of parsed.errors) {
      const path = error.index === undefined ? [] : [error.index];
      ctx.addIssue({ code: 'custom', message: error.message, path });
    }
    return z.NEVER;
  }
  return parsed.ranges;
});

/**
 * Reasons end up in 403 bodies, SSH disconnect messages and event fields: one line of printable text, so
 * that no reason can smuggle a header or a forged log line.
 */
const reasonSchema = z
  .string()
  .trim()
  .min(1, 'reason is empty')
  .max(1000, 'reason is longer than 1000 characters')
  .regex(/^[^\u0000-\u001f\u007f]*$/, 'reason must be a single line without control characters');

const ruleIdSchema = z
  .string()
  .max(128, 'rule ids are at most 128 characters')
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]*$/, 'rule ids are letters, digits, ".", "_", ":" and "-"');

/** A YAML list key left empty (`allow:` with every entry commented out) means "no entries". */
function listOf<Item extends z.ZodType>(item: Item) {
  return z
    .array(item)
    .nullish()
    .transform((items) => items ?? []);
}

const ruleSchema = z
  .strictObject({
    id: ruleIdSchema.optional(),
    host: hostPatternSchema.optional(),
    cidr: cidrSchema.optional(),
    ports: portsSchema.optional(),
    protocols: z
      .array(z.enum(PROTOCOL_NAMES))
      .min(1, 'lists no protocols; omit the key for the defaults')
      .optional(),
    reason: reasonSchema.optional(),
    intercept: z.enum(['ssh']).optional(),
    ssh: sshInterceptionSchema.optional(),
  })
  .superRefine(
    (rule, ctx) => {
      if (rule.host !== undefined && rule.cidr !== undefined) {
        ctx.addIssue({ code: 'custom', message: 'a rule has either host or cidr, not both', path: ['cidr'] });
      } else if (rule.host === undefined && rule.cidr === undefined) {
        ctx.addIssue({ code: 'custom', message: 'a rule needs a host or a cidr' });
      }
      if (rule.intercept === 'ssh' && rule.ssh === undefined) {
        ctx.addIssue({ code: 'custom', message: 'intercept: ssh needs an ssh: mapping (user, key, host_key_sha256)', path: ['intercept'] });
      }
      if (rule.ssh !== undefined && rule.intercept !== 'ssh') {
        ctx.addIssue({ code: 'custom', message: 'ssh: settings only apply with intercept: ssh', path: ['ssh'] });
      }
      if (rule.intercept === 'ssh' && rule.protocols !== undefined && !rule.protocols.includes('ssh')) {
        ctx.addIssue({ code: 'custom', message: 'intercept: ssh needs ssh among the protocols (or omit protocols)', path: ['protocols'] });
      }
    },
    // Run even when a field failed (so every problem of a rule shows at once), but only on a mapping.
    { when: (payload) => isRecord(payload.value) },
  );

export type ParsedRule = z.output<typeof ruleSchema>;

const credentialSchema = z.strictObject({
  // Proxy-Authorization Basic splits at the first ":", and SOCKS5 carries at most 255 bytes of user name.
  user: z
    .string()
    .min(1, 'user is empty')
    .max(255, 'user is longer than 255 characters')
    .regex(/^[^:\s]+$/, 'user may not contain ":" or whitespace'),
  token_sha256: z
    .string()
    .regex(/^[0-9a-fA-F]{64}$/, 'token_sha256 must be 64 hexadecimal characters (the SHA-256 of the token)')
    .transform((hex) => hex.toLowerCase()),
});

export const agentFileSchema = z.strictObject({
  agent: agentNameSchema,
  identify: z
    .strictObject({
      sources: listOf(cidrSchema),
      credentials: listOf(credentialSchema),
    })
    .nullish()
    .transform((identify) => identify ?? { sources: [], credentials: [] }),
  mode: z.enum(['enforce', 'audit']).default('enforce'),
  allow: listOf(ruleSchema),
  alert: listOf(ruleSchema),
  deny: listOf(ruleSchema),
  budgets: budgetsSchema,
});

const detectionActionSchema = z.enum(['alert', 'deny', 'quarantine']);
/** `deny`, or one action per confidence: `{ high: quarantine, medium: deny, low: alert }`. */
const detectionActionSettingSchema = z.union([
  detectionActionSchema,
  z.strictObject({ low: detectionActionSchema.optional(), medium: detectionActionSchema.optional(), high: detectionActionSchema.optional() }),
], { error: 'an action (alert, deny, quarantine) or a map of confidence (low, medium, high) to action' });

export const policyFileSchema = z.strictObject({
  unknown_agent: z
    .string()
    .refine((name) => name === UNKNOWN_AGENT_DENY || AGENT_NAME_PATTERN.test(name), {
      message: `unknown_agent is "${UNKNOWN_AGENT_DENY}" or the name of an agent`,
    })
    .default(UNKNOWN_AGENT_DENY),
  require_credentials: z.boolean().default(false),
  deny: listOf(ruleSchema),
  // Unknown kinds are errors (a typo must not leave a detection on its default); missing ones keep it.
  detections: z
    .partialRecord(z.enum(DETECTION_KINDS), detectionActionSettingSchema)
    .nullish()
    .transform((given) => ({ ...DEFAULT_DETECTION_ACTIONS, ...given })),
});


export type ParsedPolicyFile = z.output<typeof policyFileSchema>;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
