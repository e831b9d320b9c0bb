import type http from 'node:http';
import type { EventBus } from '../events/bus.js';
import type { FlowRegistry } from '../flow/registry.js';
import type { TrainingMarkers } from '../markers/markers.js';
import type { ChokepointMetrics } from '../metrics/metrics.js';
import type { Resolution } from '../net/resolver.js';
import { dryRunDecision, parseTargetText } from '../pipeline/dry-run.js';
import type { Pipeline } from '../pipeline/pipeline.js';
import { HttpError, readJson } from './http-json.js';
import { decideBody, killBody, markerBody, parseBody, quarantineBody } from './schemas.js';
import { agentsView, flowView } from './views.js';

/** What the admin routes act on: the running proxy's parts. */
export interface AdminContext {
  events: EventBus;
  pipeline: Pipeline;
  registry: FlowRegistry;
  metrics: ChokepointMetrics;
  markers: TrainingMarkers;
  resolve(host: string): Promise<Resolution>;
  reload(trigger: string): Promise<{ ok: boolean; errors: string[] }>;
  /** Rules loaded and every listener bound (false while stopping). */
  readiness(): { ready: boolean; checks: Record<string, boolean> };
}

/** A JSON answer, or raw text (the metrics exposition). */
export type RouteResult = { status: number; json: unknown } | { status: number; text: string; contentType: string };

export interface Route {
  method: 'GET' | 'POST' | 'DELETE';
  /** Anchored; capture groups are the path parameters (URL-decoded before use). */
  path: RegExp;
  /** False only for the liveness probe. */
  auth: boolean;
  handle(context: AdminContext, params: string[], req: http.IncomingMessage, url: URL): Promise<RouteResult>;
}

const ok = (json: unknown, status = 200): RouteResult => ({ status, json });

export const ROUTES: Route[] = [
  { method: 'GET', path: /^\/v1\/health$/, auth: false, handle: async () => ok({ status: 'ok' }) },
  {
    method: 'GET',
    path: /^\/v1\/ready$/,
    auth: true,
    handle: async (context) => {
      const readiness = context.readiness();
      return ok({ ready: readiness.ready, checks: readiness.checks }, readiness.ready ? 200 : 503);
    },
  },
  {
    method: 'POST',
    path: /^\/v1\/reload$/,
    auth: true,
    handle: async (context) => {
      const result = await context.reload('admin API');
      return result.ok ? ok({ reloaded: true }) : ok({ error: 'rules_rejected', message: 'the new rules are invalid; the previous rules stay in force', errors: result.errors }, 422);
    },
  },
  {
    method: 'POST',
    path: /^\/v1\/decide$/,
    auth: true,
    handle: async (context, _params, req) => {
      const body = parseBody(decideBody, await readJson(req));
      const target = typeof body.target === 'string' ? parseTargetText(body.target) : body.target;
      if (!target) throw new HttpError(400, 'invalid_request', 'target: expected "host:port" ("[v6]:port" for IPv6) or {host, port}');
      const outcome = await dryRunDecision(
        { snapshot: context.pipeline.policy, resolve: (host) => context.resolve(host), quarantined: (agent) => context.pipeline.quarantine.get(agent) },
        { agent: body.agent, host: target.host, port: target.port, ...(body.protocol ? { protocol: body.protocol } : {}) },
      );
      if (!outcome.ok) throw new HttpError(outcome.error === 'unknown_agent' ? 404 : 400, outcome.error, outcome.message);
      return ok(outcome.result);
    },
  },
  {
    method: 'GET',
    path: /^\/v1\/agents$/,
    auth: true,
    handle: async (context) =>
      ok({ agents: agentsView(context.pipeline.policy, context.registry, context.pipeline.quarantine, context.markers) }),
  },
  {
    method: 'GET',
    path: /^\/v1\/flows$/,
    auth: true,
    handle: async (context, _params, _req, url) => {
      const agent = url.searchParams.get('agent');
      const flows = [...context.registry.all()].filter((flow) => agent === null || flow.agent.name === agent).map(flowView);
      return ok({ flows });
    },
  },
  {
    method: 'DELETE',
    path: /^\/v1\/flows\/([^/]+)$/,
    auth: true,
    handle: async (context, [id = ''], req, url) => {
      const body = parseBody(killBody, await readJson(req));
      const reason = `killed by operator: ${body?.reason ?? url.searchParams.get('reason') ?? 'admin API'}`.slice(0, 600);
      const flow = context.pipeline.kill(id, reason);
      if (!flow) throw new HttpError(404, 'not_found', `no live flow ${id.slice(0, 100)}`);
      return ok({ killed: flow.id, agent: flow.agent.name, reason });
    },
  },
  {
    method: 'GET',
    path: /^\/v1\/quarantine$/,
    auth: true,
    handle: async (context) => ok({ quarantined: context.pipeline.quarantine.list() }),
  },
  {
    method: 'POST',
    path: /^\/v1\/quarantine$/,
    auth: true,
    handle: async (context, _params, req) => {
      const body = parseBody(quarantineBody, await readJson(req));
      requireAgent(context, body.agent);
      const entry = { agent: body.agent, since: new Date().toISOString(), reason: body.reason, trigger: 'operator' };
      const { already } = await context.pipeline.quarantineAgent(entry);
      return ok({ quarantined: context.pipeline.quarantine.get(body.agent) ?? entry, already }, already ? 200 : 201);
    },
  },
  {
    method: 'DELETE',
    path: /^\/v1\/quarantine\/([^/]+)$/,
    auth: true,
    handle: async (context, [agent = '']) => {
      if (!(await context.pipeline.releaseAgent(agent, 'admin API'))) throw new HttpError(404, 'not_found', `agent ${agent.slice(0, 128)} is not quarantined`);
      return ok({ released: agent });
    },
  },
  {
    method: 'POST',
    path: /^\/v1\/markers$/,
    auth: true,
    handle: async (context, _params, req) => {
      const body = parseBody(markerBody, await readJson(req));
      requireAgent(context, body.agent);
      const marker = context.markers.set(body.agent, body.labels);
      // Emitted after the marker is set, so it carries its own labels (through the bus's enrich hook).
      context.events.emit({ name: 'marker.set', kind: 'state', agent: body.agent, reason: marker === undefined ? 'training-step marker cleared' : 'training-step marker set' });
      return ok({ agent: body.agent, labels: marker?.labels ?? {}, set_at: marker?.setAt ?? null });
    },
  },
  {
    method: 'GET',
    path: /^\/metrics$/,
    auth: true,
    handle: async (context) => {
      const { contentType, text } = await context.metrics.exposition();
      return { status: 200, text, contentType };
    },
  },
];

/** Markers and quarantines name an agent of the rules: anything else is a typo worth a 404. */
function requireAgent(context: AdminContext, agent: string): void {
  const policy = context.pipeline.policy;
  if (policy.agentNamed(agent) === undefined && agent !== policy.unknownAgent.name) {
    throw new HttpError(404, 'unknown_agent', `no agent named ${agent.slice(0, 128)} in the rules`);
  }
}
