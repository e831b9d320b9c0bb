/**
 * Zod schema of the config file (`chokepoint run --config FILE`). Keys are snake_case in YAML and camelCase
 * in the ChokepointConfig it produces; every absent key takes its value from DEFAULT_CONFIG. Paths (`rules`,
 * `events.file`) come out as written: load-config.ts resolves them against the file's directory.
 */
import { z } from 'zod';
import { normaliseHostname } from '../net/hostname.js';
import { parseAddressText, parseListenAddress, parseServerAddress, type ListenAddress } from './addresses.js';
import { parseAdminListenAddress } from './admin-address.js';
import { DEFAULT_CONFIG, type ChokepointConfig } from './chokepoint-config.js';
import { quoteValue } from './errors.js';
import { quarantineConfigSchema } from './quarantine-config.js';
import { sinksSchema } from '../sinks/sink-config.js';

/** setTimeout fires at once for delays above 2^31-1 ms, which would turn a long timeout into none. */
const MAX_TIMER_MS = 2_147_483_647;
const MAX_TTL_SECONDS = Math.floor(MAX_TIMER_MS / 1000);

const milliseconds = (fallback: number) =>
  z.int().min(1).max(MAX_TIMER_MS).default(fallback);
const seconds = (fallback: number) =>
  z.int().min(0).max(MAX_TTL_SECONDS).default(fallback);
const count = (fallback: number) => z.int().min(1).default(fallback);

/** A listener: "HOST:PORT", or null to disable it; absent means the default address. */
const listenAddress = (fallback: ListenAddress) =>
  z
    .string()
    .transform((text, ctx) => {
      const parsed = parseListenAddress(text);
      if (!parsed.ok) {
        ctx.addIssue({ code: 'custom', message: parsed.message });
        return z.NEVER;
      }
      return parsed.listen;
    })
    .nullable()
    .default(() => ({ ...fallback }));

/** A listener that is off unless configured: "HOST:PORT" read by `parse`, or null. */
const optionalListenAddress = (parse: typeof parseListenAddress) =>
  z
    .string()
    .transform((text, ctx) => {
      const parsed = parse(text);
      if (!parsed.ok) {
        ctx.addIssue({ code: 'custom', message: parsed.message });
        return z.NEVER;
      }
      return parsed.listen;
    })
    .nullable();

const listenSchema = z
  .strictObject({
    http: listenAddress(DEFAULT_CONFIG.listen.http),
    socks: listenAddress(DEFAULT_CONFIG.listen.socks),
    /** The admin API; "PORT" or ":PORT" listens on loopback (src/config/admin-address.ts). */
    admin: optionalListenAddress(parseAdminListenAddress).optional(),
    /** The DNS listener (UDP and TCP on one address). */
    dns: optionalListenAddress(parseListenAddress).default(null),
    /** The transparent listener, target of the iptables REDIRECT rules. */
    transparent: optionalListenAddress(parseListenAddress).default(null),
  })
  .prefault({})
  .superRefine((listen, ctx) => {
    if (listen.http === null && listen.socks === null && listen.transparent === null) {
      ctx.addIssue({ code: 'custom', message: 'http, socks and transparent are all disabled; Chokepoint would accept nothing' });
    } else if (
      listen.http !== null &&
      listen.socks !== null &&
      listen.http.port !== 0 &&
      listen.http.host === listen.socks.host &&
      listen.http.port === listen.socks.port
    ) {
      ctx.addIssue({ code: 'custom', message: 'http and socks listen on the same address', path: ['socks'] });
    }
  });

/** `name: address` or `name: [addresses]`; names normalised like requested hosts, addresses canonical. */
const hostsSchema = z
  .record(z.string(), z.unknown())
  .nullish()
  .transform((entries, ctx) => {
    const hosts = new Map<string, string[]>();
    for (const [nameText, value] of Object.entries(entries ?? {})) {
      const name = normaliseHostname(nameText);
      if (!('host' in name)) {
        const why = 'ip' in name ? 'is an IP address, not a name' : name.error;
        ctx.addIssue({ code: 'custom', message: `${quoteValue(nameText)} ${why}`, path: [nameText] });
        continue;
      }
      if (hosts.has(name.host)) {
        ctx.addIssue({ code: 'custom', message: `${name.host} is listed twice`, path: [nameText] });
        continue;
      }
      const addresses = parseHostAddresses(value, (message, index) =>
        ctx.addIssue({ code: 'custom', message, path: index === undefined ? [nameText] : [nameText, index] }),
      );
      if (addresses) hosts.set(name.host, addresses);
    }
    return hosts;
  });

function parseHostAddresses(
  value: unknown,
  report: (message: string, index?: number) => void,
): string[] | undefined {
  const texts = Array.isArray(value) ? value : [value];
  if (texts.length === 0) {
    report('lists no addresses');
    return undefined;
  }
  const addresses: string[] = [];
  texts.forEach((text: unknown, index) => {
    const at = Array.isArray(value) ? index : undefined;
    if (typeof text !== 'string') {
      report('expected an IP address as a string', at);
      return;
    }
    const parsed = parseAddressText(text);
    if (parsed.ok) addresses.push(parsed.address);
    else report(parsed.message, at);
  });
  return addresses.length === texts.length ? addresses : undefined;
}

const dnsSchema = z
  .strictObject({
    cache_max_entries: count(DEFAULT_CONFIG.dns.cacheMaxEntries),
    min_ttl_s: seconds(DEFAULT_CONFIG.dns.minTtlSeconds),
    max_ttl_s: seconds(DEFAULT_CONFIG.dns.maxTtlSeconds),
    negative_ttl_s: seconds(DEFAULT_CONFIG.dns.negativeTtlSeconds),
    timeout_ms: milliseconds(DEFAULT_CONFIG.dns.timeoutMs),
    max_in_flight_per_agent: count(DEFAULT_CONFIG.dns.maxInFlightPerAgent),
    max_in_flight: count(DEFAULT_CONFIG.dns.maxInFlight),
    upstreams: z
      .array(
        z.string().transform((text, ctx) => {
          const parsed = parseServerAddress(text);
          if (!parsed.ok) {
            ctx.addIssue({ code: 'custom', message: parsed.message });
            return z.NEVER;
          }
          return parsed.server;
        }),
      )
      .default([]),
  })
  .prefault({})
  .superRefine((dns, ctx) => {
    if (dns.min_ttl_s > dns.max_ttl_s) {
      const message = `min_ttl_s (${dns.min_ttl_s}) is above max_ttl_s (${dns.max_ttl_s})`;
      ctx.addIssue({ code: 'custom', message, path: ['min_ttl_s'] });
    }
  })
  .transform((dns) => ({
    cacheMaxEntries: dns.cache_max_entries,
    minTtlSeconds: dns.min_ttl_s,
    maxTtlSeconds: dns.max_ttl_s,
    negativeTtlSeconds: dns.negative_ttl_s,
    timeoutMs: dns.timeout_ms,
    maxInFlightPerAgent: dns.max_in_flight_per_agent,
    maxInFlight: dns.max_in_flight,
    upstreams: dns.upstreams,
  }));

const timeoutsSchema = z
  .strictObject({
    header_ms: milliseconds(DEFAULT_CONFIG.timeouts.headerMs),
    connect_ms: milliseconds(DEFAULT_CONFIG.timeouts.connectMs),
    idle_ms: milliseconds(DEFAULT_CONFIG.timeouts.idleMs),
    peek_ms: milliseconds(DEFAULT_CONFIG.timeouts.peekMs),
  })
  .prefault({})
  .transform((timeouts) => ({
    headerMs: timeouts.header_ms,
    connectMs: timeouts.connect_ms,
    idleMs: timeouts.idle_ms,
    peekMs: timeouts.peek_ms,
  }));

const limitsSchema = z
  .strictObject({
    max_header_bytes: count(DEFAULT_CONFIG.limits.maxHeaderBytes),
    max_flows_total: count(DEFAULT_CONFIG.limits.maxFlowsTotal),
    max_flows_per_agent: count(DEFAULT_CONFIG.limits.maxFlowsPerAgent),
  })
  .prefault({})
  .transform((limits) => ({
    maxHeaderBytes: limits.max_header_bytes,
    maxFlowsTotal: limits.max_flows_total,
    maxFlowsPerAgent: limits.max_flows_per_agent,
  }));

export const configFileSchema = z
  .strictObject({
    listen: listenSchema,
    rules: z.string().min(1, 'rules is empty').default(DEFAULT_CONFIG.rulesDir),
    state_dir: z.string().min(1, 'state_dir is empty').default(DEFAULT_CONFIG.stateDir),
    certs_dir: z.string().min(1, 'certs_dir is empty').default(DEFAULT_CONFIG.certsDir),
    inspect: z.boolean().default(DEFAULT_CONFIG.inspect),
    events: z
      .strictObject({
        file: z.string().min(1, 'file is empty; write null for stdout').nullable().default(null),
        // Seconds between proxy.heartbeat events; 0 turns them off. Below a second they would flood the
        // sinks (tests set shorter intervals on the config object, past this schema).
        heartbeat_s: z
          .number()
          .max(MAX_TTL_SECONDS)
          .refine((seconds) => seconds === 0 || seconds >= 1, 'must be 0 (off) or at least 1 second')
          .default(DEFAULT_CONFIG.events.heartbeatSeconds),
      })
      .prefault({})
      .transform(({ heartbeat_s, ...rest }) => ({ ...rest, heartbeatSeconds: heartbeat_s })),
    hosts: hostsSchema,
    dns: dnsSchema,
    timeouts: timeoutsSchema,
    limits: limitsSchema,
    admin: z
      .strictObject({ token: z.string().min(1, 'token is empty').optional(), token_file: z.string().min(1, 'token_file is empty').optional() })
      .refine((admin) => admin.token === undefined || admin.token_file === undefined, { message: 'give token or token_file, not both' })
      .optional(),
    quarantine: quarantineConfigSchema,
    sinks: sinksSchema,
  })
  .superRefine((raw, ctx) => {
    // Either the implicit sink or the listed ones: a file that silently stopped receiving events is worse.
    if (raw.events.file !== null && raw.sinks.length > 0) {
      ctx.addIssue({ code: 'custom', message: 'events.file is not used when sinks are listed; add a "type: file" sink instead', path: ['events', 'file'] });
    }
  })
  .transform(
    (raw): ChokepointConfig => ({
      listen: raw.listen,
      rulesDir: raw.rules,
      stateDir: raw.state_dir,
      certsDir: raw.certs_dir,
      inspect: raw.inspect,
      events: raw.events,
      hosts: raw.hosts,
      dns: raw.dns,
      timeouts: raw.timeouts,
      limits: raw.limits,
      ...(raw.admin ? { admin: { ...(raw.admin.token !== undefined ? { token: raw.admin.token } : {}), ...(raw.admin.token_file !== undefined ? { tokenFile: raw.admin.token_file } : {}) } } : {}),
      quarantine: raw.quarantine,
      sinks: raw.sinks,
    }),
  );
