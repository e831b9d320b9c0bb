/**
 * The messages exchanged between the bench runner and its child processes (upstream servers and load
 * clients). Children get their arguments as one JSON string in argv[2] and print their result as one JSON
 * line on stdout; both sides validate with these schemas, so a mismatch is a clear error, not a NaN.
 */
import { z } from 'zod';

/** A TCP listener on loopback. */
export const endpointSchema = z.object({ host: z.string(), port: z.number().int().min(1).max(65535) });
export type Endpoint = z.infer<typeof endpointSchema>;

/** How a load client reaches an upstream server: straight to it, or through a proxy's HTTP listener. */
export const routeSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('direct') }),
  z.object({ kind: z.literal('proxy'), port: z.number().int().min(1).max(65535) }),
]);
export type Route = z.infer<typeof routeSchema>;

/** Printed by the upstream servers process once all its servers listen. */
export const upstreamPortsSchema = z.object({ sink: endpointSchema, echo: endpointSchema, httpOrigin: endpointSchema });
export type UpstreamEndpoints = z.infer<typeof upstreamPortsSchema>;

export const throughputArgsSchema = z.object({
  route: routeSchema,
  sink: endpointSchema,
  bytes: z.number().int().positive(),
  timeoutMs: z.number().int().positive(),
});
export type ThroughputArgs = z.infer<typeof throughputArgsSchema>;
export const throughputResultSchema = z.object({ bytes: z.number(), seconds: z.number().positive() });
export type ThroughputResult = z.infer<typeof throughputResultSchema>;

export const tunnelSetupArgsSchema = z.object({
  route: routeSchema,
  echo: endpointSchema,
  count: z.number().int().positive(),
  inFlight: z.number().int().positive(),
  perTunnelTimeoutMs: z.number().int().positive(),
});
export type TunnelSetupArgs = z.infer<typeof tunnelSetupArgsSchema>;
export const tunnelSetupResultSchema = z.object({
  completed: z.number().int(),
  failed: z.number().int(),
  seconds: z.number().positive(),
  firstError: z.string().nullable(),
});
export type TunnelSetupResult = z.infer<typeof tunnelSetupResultSchema>;

export const idleTunnelsArgsSchema = z.object({
  route: routeSchema,
  echo: endpointSchema,
  count: z.number().int().positive(),
  inFlight: z.number().int().positive(),
  perTunnelTimeoutMs: z.number().int().positive(),
});
export type IdleTunnelsArgs = z.infer<typeof idleTunnelsArgsSchema>;
/** Printed once every tunnel is open (or has failed); the client then holds them until its stdin closes. */
export const idleTunnelsReadySchema = z.object({
  opened: z.number().int(),
  failed: z.number().int(),
  firstError: z.string().nullable(),
});
export type IdleTunnelsReady = z.infer<typeof idleTunnelsReadySchema>;
/** Printed after the tunnels are closed: how many the proxy had already dropped while they sat idle. */
export const idleTunnelsDoneSchema = z.object({ closed: z.number().int(), droppedWhileIdle: z.number().int() });
export type IdleTunnelsDone = z.infer<typeof idleTunnelsDoneSchema>;

export const httpClientArgsSchema = z.object({
  route: routeSchema,
  origin: endpointSchema,
  connections: z.number().int().positive(),
  durationMs: z.number().int().positive(),
});
export type HttpClientArgs = z.infer<typeof httpClientArgsSchema>;
export const httpClientResultSchema = z.object({
  okResponses: z.number().int(),
  failures: z.number().int(),
  seconds: z.number().positive(),
});
export type HttpClientResult = z.infer<typeof httpClientResultSchema>;

/** The JSON line our wrk Lua script prints from its done() hook (load/wrk-script.ts). */
export const wrkSummarySchema = z.object({
  requests: z.number().int(),
  durationUs: z.number().positive(),
  connectErrors: z.number().int(),
  readErrors: z.number().int(),
  writeErrors: z.number().int(),
  statusErrors: z.number().int(),
  timeouts: z.number().int(),
});
export type WrkSummary = z.infer<typeof wrkSummarySchema>;

/** What load/policy-decide-child.ts reports: whether bench/policy-decide.js exists, and what its main() returned. */
export const policyDecideOutputSchema = z.discriminatedUnion('found', [
  z.object({ found: z.literal(false) }),
  z.object({ found: z.literal(true), result: z.unknown() }),
]);
export type PolicyDecideOutput = z.infer<typeof policyDecideOutputSchema>;
