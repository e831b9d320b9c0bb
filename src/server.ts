import type http from 'node:http';
import type net from 'node:net';
import type { AddressInfo } from 'node:net';
import type { ChokepointConfig, ListenAddress } from './config/chokepoint-config.js';
import { formatConfigError } from './config/errors.js';
import { loadRules } from './config/load-rules.js';
import { watchRules, type RulesWatcher } from './config/watch.js';
import { EventBus, type EventSink } from './events/bus.js';
import type { EventInput } from './events/types.js';
import { startHeartbeat } from './events/heartbeat.js';
import { createPinoSink } from './events/pino-sink.js';
import { FlowRegistry } from './flow/registry.js';
import { createHttpProxyServer } from './listeners/http-proxy.js';
import { createSocks5Server } from './listeners/socks5.js';
import { createTransparentServer } from './listeners/transparent.js';
import { NameMemory } from './net/name-memory.js';
import { Resolver } from './net/resolver.js';
import { startDnsListener, type DnsListener } from './listeners/dns.js';
import { startDnsService } from './dns/start-dns.js';
import { buildSnapshot } from './pipeline/build-snapshot.js';
import { Pipeline } from './pipeline/pipeline.js';
import { QuarantineController } from './quarantine/controller.js';
import { QuarantineStore } from './quarantine/store.js';
import { startAdmin, type AdminParts } from './admin/start-admin.js';
import { createSinks, SinkSetupError, type SinkTuning } from './sinks/create-sinks.js';
import type { ManagedSink } from './sinks/queued-sink.js';
import { SshInterceptor } from './intercept/ssh/interceptor.js';
import { messageOf } from './error-message.js';

/**
 * Builds and wires the parts: events, rules, pipeline, listeners, reload. `startProxy` is what the CLI
 * runs and what integration tests start in-process.
 */

export interface StartOptions {
  /**
   * Replace the implicit pino sink (stdout or `events.file`), e.g. with an in-memory sink in tests. The
   * `sinks:` of the config are built either way; when there are any, there is no implicit sink.
   */
  sinks?: EventSink[];
  /** Timing of the configured sinks' own reports (tests shorten it). */
  sinkTuning?: SinkTuning;
  /** Watch the rules directory and reload on change (default true). */
  watch?: boolean;
}

export interface RunningProxy {
  readonly events: EventBus;
  readonly pipeline: Pipeline;
  readonly registry: FlowRegistry;
  /** Bound addresses (port 0 in the config becomes the real port here). */
  readonly http?: AddressInfo;
  readonly socks?: AddressInfo;
  /** The admin API listener, when `listen.admin` is set. */
  readonly admin?: AddressInfo;
  /** Prometheus metrics (other parts add theirs here: see src/metrics/metrics.ts). */
  readonly metrics: AdminParts['metrics'];
  /** Training-step markers per agent, applied to every event of the agent. */
  readonly markers: AdminParts['markers'];
  /** The DNS listener's address (UDP and TCP share it), when `listen.dns` is set. */
  readonly dns?: AddressInfo;
  /** The transparent listener (target of the iptables REDIRECT rules), when `listen.transparent` is set. */
  readonly transparent?: AddressInfo;
  /** Which names each agent was told resolve to which addresses (the DNS listener records, transparent reads). */
  readonly names: NameMemory;
  /** Reloads rules now; resolves to whether the new rules were accepted. */
  reload(trigger: string): Promise<{ ok: boolean; errors: string[] }>;
  stop(): Promise<void>;
}

/** The proxy cannot start: invalid rules (the CLI exits 1) or a listener that cannot bind (a ListenError). */
export class StartupError extends Error {}

/** A listener could not bind its address; the CLI exits 3 on this one. */
export class ListenError extends StartupError {}

/** What an operator should read for the bind errors one actually meets. */
const LISTEN_ERROR_TEXT: Record<string, string> = {
  EADDRINUSE: 'address already in use (is another proxy running on it?)',
  EACCES: 'permission denied (ports below 1024 need privileges)',
  EADDRNOTAVAIL: 'address not available (no interface of this machine has it)',
};

export async function startProxy(config: ChokepointConfig, options: StartOptions = {}): Promise<RunningProxy> {
  const events = new EventBus();
  const implicitSinks = config.sinks.length > 0 ? [] : [createPinoSink(config.events.file ?? undefined)];
  for (const sink of options.sinks ?? implicitSinks) events.addSink(sink);

  const initial = await loadSnapshot(config.rulesDir);
  if (!initial.ok) throw new StartupError(`rules in ${config.rulesDir} are invalid:\n${initial.errors.join('\n')}`);

  const registry = new FlowRegistry({ maxTotal: config.limits.maxFlowsTotal, maxPerAgent: config.limits.maxFlowsPerAgent });
  const upstreamServers = config.dns.upstreams.map(({ host, port }) => (host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`));
  const resolver = new Resolver({ hosts: config.hosts, ...config.dns, ...(upstreamServers.length > 0 ? { servers: upstreamServers } : {}) });
  const names = new NameMemory();
  let quarantine: QuarantineStore;
  try {
    quarantine = await QuarantineStore.openIn(config.stateDir);
  } catch (error) {
    throw new StartupError(messageOf(error));
  }
  // A sink may report while it opens (a damaged spool acknowledgement): held until proxy.started, the
  // only event a hash chain may begin with, however long the rest of start-up takes.
  const sinkReports = holdUntilOpened((input) => events.emit(input));
  let configuredSinks: ManagedSink[];
  try {
    configuredSinks = await createSinks(config, sinkReports.emit, options.sinkTuning);
  } catch (error) {
    throw new StartupError(error instanceof SinkSetupError ? `cannot set up event sinks: ${error.message}` : String(error));
  }
  for (const sink of configuredSinks) events.addSink(sink);
  const closeSinks = (): Promise<void> => Promise.all(configuredSinks.map((sink) => sink.close())).then(() => undefined);

  const sshInterceptor = new SshInterceptor(events, { certsDir: config.certsDir, loginMs: config.timeouts.connectMs, idleMs: config.timeouts.idleMs });
  // Rules that intercept SSH: have the host key now, for operators to pin (its event follows proxy.started).
  if (initial.snapshot.ruleSet.agents.some((agent) => agent.rules.some((rule) => rule.intercept))) {
    await sshInterceptor.hostKey().catch(async (error: unknown) => {
      await closeSinks();
      throw new StartupError(`SSH interception host key in ${config.certsDir}: ${messageOf(error)}`);
    });
  }
  const pipeline = new Pipeline(
    initial.snapshot,
    resolver,
    registry,
    events,
    { connectMs: config.timeouts.connectMs, idleMs: config.timeouts.idleMs, peekMs: config.timeouts.peekMs, inspect: config.inspect },
    quarantine,
    new QuarantineController(quarantine, events, registry, config.quarantine),
    sshInterceptor,
  );
  const servers: TrackedServer[] = [];
  let httpAddress: AddressInfo | undefined;
  let socksAddress: AddressInfo | undefined;
  let adminAddress: AddressInfo | undefined;
  let stopping = false;
  const admin = startAdmin({
    events,
    pipeline,
    registry,
    resolve: (host) => resolver.resolve(host),
    reload: (trigger) => reload(trigger),
    readiness: () => ({ ready: !stopping && servers.every(({ server }) => server.listening), checks: { rules_loaded: true, listeners_bound: servers.every(({ server }) => server.listening), stopping } }),
  });
  let dnsListener: DnsListener | undefined;
  let transparentAddress: AddressInfo | undefined;
  try {
    if (config.listen.http) {
      const server = createHttpProxyServer(pipeline, {
        headerTimeoutMs: config.timeouts.headerMs,
        maxHeaderBytes: config.limits.maxHeaderBytes,
        upstreamIdleMs: config.timeouts.idleMs,
      });
      servers.push(track(server));
      httpAddress = await listen(server, config.listen.http, 'http');
      keepServing(server, 'http', events);
    }
    if (config.listen.socks) {
      const server = createSocks5Server(pipeline, { handshakeTimeoutMs: config.timeouts.headerMs });
      servers.push(track(server));
      socksAddress = await listen(server, config.listen.socks, 'socks');
      keepServing(server, 'socks', events);
    }
    if (config.listen.admin) {
      const server = await admin.createServer(config.admin).catch((error: unknown) => {
        throw new StartupError(`admin API: ${messageOf(error)}`);
      });
      servers.push(track(server));
      adminAddress = await listen(server, config.listen.admin, 'admin');
      keepServing(server, 'admin', events);
    }
    if (config.listen.dns) {
      const service = startDnsService(config, { policy: () => pipeline.policy, quarantines: pipeline.quarantines, events, names });
      if ('error' in service) throw new StartupError(service.error);
      const where = config.listen.dns;
      dnsListener = await startDnsListener(service.service, where, {
        idleMs: config.timeouts.headerMs,
        onError: (transport, error) =>
          events.emit({ name: 'listener.error', kind: 'alert', outcome: 'failure', reason: `dns ${transport} listener: ${error.code ?? error.message}`, error: { ...(error.code ? { code: error.code } : {}), message: error.message } }),
      }).catch((error: NodeJS.ErrnoException) => {
        const why = (error.code && LISTEN_ERROR_TEXT[error.code]) ?? error.code ?? error.message;
        throw new ListenError(`cannot listen for dns on ${where.host}:${where.port}: ${why}`);
      });
    }
    if (config.listen.transparent) {
      const server = createTransparentServer(pipeline, { names, peekMs: config.timeouts.peekMs, events });
      servers.push(track(server));
      transparentAddress = await listen(server, config.listen.transparent, 'transparent');
      keepServing(server, 'transparent', events);
    }
  } catch (error) {
    // Whatever started before the failure is released: an in-process caller (tests, an embedding
    // program) keeps running, and a bound DNS port or a webhook retry must not outlive the failed start.
    pipeline.quarantines.stop();
    await Promise.all([...servers.map(closeServer), dnsListener?.close()]);
    admin.detach();
    await closeSinks();
    throw error;
  }

  // Reloads are serialised: a burst of triggers never interleaves two loads.
  let reloading: Promise<{ ok: boolean; errors: string[] }> = Promise.resolve({ ok: true, errors: [] });
  const reload = (trigger: string): Promise<{ ok: boolean; errors: string[] }> => {
    // A trigger landing during the stop (an admin request, SIGHUP) would run after proxy.stopped.
    if (stopping) return Promise.resolve({ ok: false, errors: ['the proxy is stopping'] });
    reloading = reloading.then(async () => {
      // An operator may have released an agent with `chokepoint quarantine release`.
      await pipeline.quarantines.reloadState().catch((error: unknown) =>
        events.emit({ name: 'config.rejected', kind: 'alert', outcome: 'failure', reason: `quarantine state not reloaded: ${messageOf(error)}` }),
      );
      const next = await loadSnapshot(config.rulesDir);
      if (!next.ok) {
        events.emit({ name: 'config.rejected', kind: 'alert', outcome: 'failure', reason: `rules reload (${trigger}) rejected; the previous rules stay in force`, details: { trigger, errors: next.errors } });
        return { ok: false, errors: next.errors };
      }
      const { closed } = pipeline.replacePolicy(next.snapshot);
      events.emit({ name: 'config.reloaded', kind: 'state', outcome: 'success', reason: `rules reloaded (${trigger})`, details: { trigger, agents: next.snapshot.ruleSet.agents.length, closed_flows: closed } });
      return { ok: true, errors: [] };
    });
    return reloading;
  };
  const watcher: RulesWatcher | undefined = options.watch === false ? undefined : watchRules(config.rulesDir, () => void reload('file change'));
  const onHangup = (): void => void reload('SIGHUP');
  process.on('SIGHUP', onHangup);

  events.emit({
    name: 'proxy.started',
    kind: 'state',
    details: {
      http: httpAddress ? `${httpAddress.address}:${httpAddress.port}` : null,
      socks: socksAddress ? `${socksAddress.address}:${socksAddress.port}` : null,
      ...(adminAddress ? { admin: `${adminAddress.address}:${adminAddress.port}` } : {}),
      dns: dnsListener ? `${dnsListener.address.address}:${dnsListener.address.port}` : null,
      transparent: transparentAddress ? `${transparentAddress.address}:${transparentAddress.port}` : null,
      rules: config.rulesDir,
      // Off only to measure its cost: without it no protocol rule or detection is enforced on tunnels.
      inspect: config.inspect,
      agents: initial.snapshot.ruleSet.agents.map((agent) => agent.name),
    },
  });
  sinkReports.open();
  sshInterceptor.started();
  // Quarantines that lapsed while the proxy was down are released, with their event, now: after
  // proxy.started, the only event a hash chain may begin with (verify-log rejects any other). Until the
  // sweep, the store already ignores expired entries, so no agent is refused for one meanwhile.
  await pipeline.quarantines.start();

  const heartbeat = startHeartbeat(events, config.events.heartbeatSeconds, { liveFlows: () => registry.size });

  return {
    events,
    pipeline,
    registry,
    ...(httpAddress ? { http: httpAddress } : {}),
    ...(socksAddress ? { socks: socksAddress } : {}),
    ...(adminAddress ? { admin: adminAddress } : {}),
    metrics: admin.metrics,
    markers: admin.markers,
    ...(dnsListener ? { dns: dnsListener.address } : {}),
    ...(transparentAddress ? { transparent: transparentAddress } : {}),
    names,
    reload,
    async stop(): Promise<void> {
      stopping = true;
      process.off('SIGHUP', onHangup);
      heartbeat.stop();
      watcher?.close();
      await reloading;
      pipeline.quarantines.stop();
      pipeline.terminateAll('proxy stopping');
      await Promise.all([...servers.map(closeServer), dnsListener?.close()]);
      // A terminated flow's flow.closed comes once both of its sockets have closed (a later turn): wait
      // for it so that proxy.stopped is the last event of the chain. A flow still dialling ends when its
      // dial does; the wait is capped at the connect timeout so that a stop always completes.
      await flowsClosed(registry, config.timeouts.connectMs);
      events.emit({ name: 'proxy.stopped', kind: 'state' });
      await events.flush();
      admin.detach();
      // Stops senders and timers; an HTTP sink's undelivered events stay in its spool for the next start.
      await closeSinks();
    },
  };
}

/** Resolves when every live flow has closed, or after `capMs`, whichever is first. */
async function flowsClosed(registry: FlowRegistry, capMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const capped = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, capMs);
  });
  await Promise.race([registry.whenEmpty(), capped]);
  clearTimeout(timer);
}

async function loadSnapshot(dir: string): Promise<ReturnType<typeof buildSnapshot>> {
  const loaded = await loadRules(dir);
  if (!loaded.ok) return { ok: false, errors: loaded.errors.map(formatConfigError) };
  return buildSnapshot(loaded.ruleSet);
}

function listen(server: net.Server | http.Server, address: ListenAddress, name: string): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException): void => {
      const why = (error.code && LISTEN_ERROR_TEXT[error.code]) ?? error.code ?? error.message;
      reject(new ListenError(`cannot listen for ${name} on ${address.host}:${address.port}: ${why}`));
    };
    server.once('error', onError);
    server.listen({ host: address.host, port: address.port, backlog: 1024 }, () => {
      server.off('error', onError);
      const bound = server.address();
      if (bound === null || typeof bound === 'string') reject(new ListenError(`${name} listener has no TCP address`));
      else resolve(bound);
    });
  });
}

/** An accept error (EMFILE, ENFILE) after start-up is reported, never fatal: live flows keep going. */
function keepServing(server: net.Server, name: string, events: EventBus): void {
  server.on('error', (error: NodeJS.ErrnoException) =>
    events.emit({ name: 'listener.error', kind: 'alert', outcome: 'failure', reason: `${name} listener: ${error.code ?? error.message}`, error: { ...(error.code ? { code: error.code } : {}), message: error.message } }),
  );
}

/** A listening server and the client sockets it accepted that are still open. */
interface TrackedServer {
  server: net.Server;
  sockets: Set<net.Socket>;
}

function track(server: net.Server): TrackedServer {
  const sockets = new Set<net.Socket>();
  server.on('connection', (socket: net.Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  return { server, sockets };
}

/**
 * Stops accepting and closes every client socket still open. `server.close()` alone waits for each
 * connection to end, so a client stalled in its handshake (a SOCKS5 greeting, half a CONNECT request)
 * would hold shutdown for the whole header timeout. Live flows are terminated before this, with a reason.
 */
function closeServer({ server, sockets }: TrackedServer): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  for (const socket of sockets) socket.destroy();
  return closed;
}

/** Passes inputs on once `open` is called; those given before are kept and passed on then, in order. */
function holdUntilOpened(emit: (input: EventInput) => void): { emit: (input: EventInput) => void; open: () => void } {
  let held: EventInput[] | undefined = [];
  return {
    emit: (input) => (held ? held.push(input) : emit(input)),
    open: () => {
      const waiting = held ?? [];
      held = undefined;
      for (const input of waiting) emit(input);
    },
  };
}
