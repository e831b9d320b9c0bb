import { z } from 'zod';
import type { Tags } from '../events/types.js';
import type { ProtocolName } from '../inspect/types.js';
import { HttpError } from './http-json.js';

/** Request bodies of the admin API; a body that does not fit is a 400 naming the field. */

const PROTOCOLS = ['tls', 'http', 'http2', 'websocket', 'ssh', 'stratum', 'socks', 'proxy-protocol', 'reverse-shell', 'unknown', 'opaque'] as const satisfies readonly ProtocolName[];

const agentName = z.string().min(1).max(128);

export const decideBody = z.strictObject({
  agent: agentName,
  target: z.union([z.string().min(1).max(300), z.strictObject({ host: z.string().min(1).max(300), port: z.int().min(1).max(65535) })]),
  protocol: z.enum(PROTOCOLS).optional(),
});

export const quarantineBody = z.strictObject({
  agent: agentName,
  reason: z.string().min(1).max(500),
});

export const killBody = z.strictObject({ reason: z.string().min(1).max(500).optional() }).optional();

/** Same limits as the flow tags clients send (src/identity/tags.ts), so a marker is as safe in a SIEM. */
const LABEL_KEY = /^[a-z][a-z0-9_.-]{0,31}$/;
const LABEL_VALUE = /^[\x21-\x7e]{1,128}$/;
const MAX_LABELS = 16;

export const markerBody = z
  .object({ agent: agentName })
  .catchall(z.union([z.string(), z.number(), z.boolean()]))
  .transform((body, ctx): { agent: string; labels: Tags } => {
    const labels: Tags = {};
    for (const [key, value] of Object.entries(body)) {
      if (key === 'agent') continue;
      const text = String(value);
      if (!LABEL_KEY.test(key)) ctx.addIssue({ code: 'custom', message: `label key must match ${LABEL_KEY.source}`, path: [key] });
      else if (!LABEL_VALUE.test(text)) ctx.addIssue({ code: 'custom', message: 'label value must be 1-128 printable characters without spaces', path: [key] });
      else labels[key] = text;
    }
    if (Object.keys(labels).length > MAX_LABELS) ctx.addIssue({ code: 'custom', message: `at most ${MAX_LABELS} labels` });
    return { agent: body.agent, labels };
  });

/** Parses `body` with `schema`, or throws the 400 that says which field is wrong. */
export function parseBody<T extends z.ZodType>(schema: T, body: unknown): z.output<T> {
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : 'body'}: ${issue.message}`);
  throw new HttpError(400, 'invalid_request', problems.join('; '));
}
