import type net from 'node:net';
import { flowEventFields } from '../flow/event-fields.js';
import type { EventBus } from '../events/bus.js';
import type { EntryMode, EventInput, Tags } from '../events/types.js';
import { elapsedNs, newFlowId, type Flow } from '../flow/flow.js';
import type { FlowRegistry } from '../flow/registry.js';
import { relay, type RelayHandle, type RelayInspector } from '../flow/relay.js';
import { splitUserTags } from '../identity/tags.js';
import type { ClientCredentials } from '../identity/identify.js';
import { dialFirst, type DialResult } from '../net/dialer.js';
import { formatAddress } from '../net/address.js';
import { normaliseHostname } from '../net/hostname.js';
import type { Resolver } from '../net/resolver.js';
import type { SshInterceptor } from '../intercept/ssh/interceptor.js';
import type { AgentPolicy, Decision } from '../policy/types.js';
import { BudgetTracker } from '../budgets/tracker.js';
import { QuarantineController } from '../quarantine/controller.js';
import type { QuarantineEntry, QuarantineStore } from '../quarantine/store.js';
import { DEFAULT_QUARANTINE_CONFIG } from '../config/quarantine-config.js';
import { FlowJudge, type Verdict } from './flow-judge.js';
import { HttpExchangeInspection } from './http-inspection.js';
import { pinToOriginal, type OriginalTarget } from './original-destination.js';
import type { PolicySnapshot } from './policy-snapshot.js';
import { runTunnel } from './tunnel.js';

/**
 * The one pipeline every entry mode goes through. A listener turns its handshake into a FlowRequest,
 * calls `admit` (identity, quarantine, intel, target decision, DNS, SSRF vetting) and speaks the
 * outcome back in its own protocol; a byte tunnel then goes to `tunnel` (peek, classify, judge, dial,
 * relay), a plain-HTTP request to `inspectHttp` and the HTTP forwarder. Every decision is an event.
 */

export interface FlowRequest {
  entry: EntryMode;
  client: { address: string; port: number };
  credentials?: ClientCredentials;
  /** Exactly as the client asked: a name, or an IP literal in any spelling. */
  target: { host: string; port: number };
  tags?: Tags;
  /**
   * Transparent entry: the address the agent itself connected to, when `target.host` is a name read
   * from its bytes or its DNS answers. The flow is dialled to this address only, and only if it is
   * one of the name's vetted addresses (src/pipeline/original-destination.ts).
   */
  original?: OriginalTarget;
}

export type Admission =
  | { kind: 'admitted'; flow: Flow }
  /** The flow is refused by policy; `flow` carries the decision for the answer body. */
  | { kind: 'denied'; flow: Flow; decision: Decision }
  /** Credentials are required (none given) or wrong. */
  | { kind: 'auth'; reason: string; bad: boolean }
  /** The request itself is malformed (bad host, port, tags). */
  | { kind: 'invalid'; reason: string }
  /** Resolution failed; the client is told it could not be reached. */
  | { kind: 'unresolvable'; flow: Flow; code: string; reason: string }
  | { kind: 'limited'; flow: Flow; reason: string; scope: 'total' | 'agent' };

export interface PipelineOptions {
  connectMs: number;
  idleMs: number;
  /** How long a tunnel waits for the agent's first bytes before dialling (server-speaks-first). */
  peekMs: number;
  /** False: tunnels are dialled first and relayed without classification (benchmark baseline). */
  inspect: boolean;
}

/** The most a tunnel reads before deciding: a TLS ClientHello can span 64 KiB. */
const PEEK_BYTES = 64 * 1024;

export class Pipeline {
  private readonly judge: FlowJudge;
  /** Per-agent budgets; usage is kept per agent name, across rule reloads. */
  readonly budgets: BudgetTracker;

  constructor(
    private snapshot: PolicySnapshot,
    private readonly resolver: Resolver,
    private readonly registry: FlowRegistry,
    private readonly events: EventBus,
    private readonly options: PipelineOptions,
    readonly quarantine: QuarantineStore,
    /** Entering / leaving quarantine (events, flows closed, expiry, webhooks); built on `quarantine`. */
    readonly quarantines: QuarantineController = new QuarantineController(quarantine, events, registry, DEFAULT_QUARANTINE_CONFIG),
    /** Terminates SSH on `intercept: ssh` rules; without it such flows are refused (never relayed raw). */
    readonly sshInterceptor?: SshInterceptor,
  ) {
    this.judge = new FlowJudge(() => this.snapshot, events, quarantines);
    this.budgets = new BudgetTracker(events, registry, quarantines, {
      recordDenial: (flow, decision) => this.recordDenial(flow, decision),
      revoke: (flow, reason) => this.revoke(flow, reason),
    });
  }

  get policy(): PolicySnapshot {
    return this.snapshot;
  }

  /** Swaps in a new policy and closes the live flows it no longer allows. */
  replacePolicy(next: PolicySnapshot): { closed: number } {
    this.snapshot = next;
    let closed = 0;
    for (const flow of [...this.registry.all()]) {
      const agent = next.agentNamed(flow.agent.name) ?? next.unknownAgent;
      const stillOwner = this.stillIdentifies(next, flow, agent);
      if (stillOwner !== true) {
        closed += 1;
        const reason = `policy reload: ${stillOwner}`;
        this.recordDenial(flow, { action: 'deny', rule: 'identity', reason });
        this.revoke(flow, reason);
        continue;
      }
      // Same agent, possibly with a new mode (audit → enforce applies to its live flows too).
      flow.agent = agent;
      const decision = flow.target.host
        ? next.decideName(agent, flow.target.host, flow.target.port) ??
          next.decideAddresses(agent, { host: flow.target.host, addresses: flow.addresses, port: flow.target.port })
        : next.decideAddresses(agent, { addresses: flow.addresses, port: flow.target.port });
      if (decision.action === 'deny' && agent.mode === 'enforce') {
        closed += 1;
        // The new rules decide this flow again: say so (with the rule) before it is closed.
        this.recordDenial(flow, decision);
        this.revoke(flow, `policy reload: ${decision.reason ?? decision.rule}`);
      } else {
        flow.reconsider?.();
      }
    }
    return { closed };
  }

  /**
   * Whether the flow still belongs to its agent under the new rules: its credentials' user still
   * belongs to that agent, or (without credentials) its source address still maps to it.
   */
  private stillIdentifies(next: PolicySnapshot, flow: Flow, agent: AgentPolicy): true | string {
    if (agent.name !== flow.agent.name) return `agent ${flow.agent.name} no longer exists`;
    if (flow.credentialUser !== undefined) {
      return agent.credentials.some((credential) => credential.user === flow.credentialUser)
        ? true
        : `credentials of user ${flow.credentialUser} no longer identify agent ${agent.name}`;
    }
    const owner = next.identities.bySource(flow.client.address)?.name ?? next.unknownAgent.name;
    return owner === agent.name ? true : `source ${flow.client.address} no longer belongs to agent ${agent.name}`;
  }

  /**
   * An operator ends one live flow (admin API): a `flow.killed` event now, and its `flow.closed` (with
   * the reason) once its sockets are closed. Returns the flow, or undefined when none has that id;
   * `already` when it was ending already (killed, revoked): a flow stays listed until its sockets have
   * closed, and a second kill in that window must not report a second kill.
   */
  kill(flowId: string, reason: string): { flow: Flow; already: boolean } | undefined {
    const flow = this.registry.get(flowId);
    if (!flow) return undefined;
    if (flow.revoked !== undefined) return { flow, already: true };
    this.events.emit({
      name: 'flow.killed',
      kind: 'alert',
      ...flowEventFields(flow),
      reason,
    });
    this.revoke(flow, reason);
    return { flow, already: false };
  }

  /**
   * An operator's quarantine (admin API), through the same controller as a detection's: in force at once,
   * every live flow of the agent ends, `agent.quarantined` is emitted, webhooks are called. Resolves once
   * the state file is written, so the API's answer means "survives a restart".
   */
  async quarantineAgent(request: { agent: string; reason: string; durationS?: number | null }): Promise<{ already: boolean }> {
    const already = this.quarantine.get(request.agent) !== undefined;
    const agent = this.snapshot.agentNamed(request.agent);
    this.quarantines.enter({ ...request, ...(agent ? { agentMode: agent.mode } : {}), trigger: 'operator' });
    await this.quarantine.settled(request.agent);
    return { already };
  }

  /** Releases a quarantined agent now (no reload needed); resolves to whether it was quarantined. */
  releaseAgent(agent: string, by: string): Promise<boolean> {
    return this.quarantines.release(agent, `released by ${by}`);
  }

  /** Ends every live flow, e.g. on shutdown. */
  terminateAll(reason: string): void {
    for (const flow of [...this.registry.all()]) this.revoke(flow, reason);
  }

  async admit(request: FlowRequest): Promise<Admission> {
    if (!Number.isInteger(request.target.port) || request.target.port < 1 || request.target.port > 65535) {
      return { kind: 'invalid', reason: `port ${request.target.port} is not a TCP port (1-65535)` };
    }
    const target = normaliseHostname(request.target.host);
    if ('error' in target) return { kind: 'invalid', reason: `bad destination host: ${target.error}` };

    let tags: Tags = { ...request.tags };
    let credentials = request.credentials;
    if (credentials) {
      const split = splitUserTags(credentials.user);
      if ('error' in split) return { kind: 'invalid', reason: `bad tags in proxy user name: ${split.error}` };
      tags = { ...split.tags, ...tags };
      credentials = { user: split.user, password: credentials.password };
    }

    const snapshot = this.snapshot;
    const identity = snapshot.identities.identify(request.client.address, credentials);
    if (identity.kind === 'bad-credentials') {
      this.reportBadCredentials(request, identity.user, tags);
      return { kind: 'auth', bad: true, reason: 'invalid proxy credentials' };
    }
    if (identity.kind === 'unknown' && snapshot.ruleSet.requireCredentials) {
      return { kind: 'auth', bad: false, reason: 'proxy credentials are required: user = agent name, password = agent token' };
    }
    const agent = identity.kind === 'agent' ? identity.agent : snapshot.unknownAgent;
    const quarantined = this.quarantine.get(agent.name);

    const flow: Flow = {
      id: newFlowId(),
      entry: request.entry,
      startedAt: process.hrtime.bigint(),
      client: request.client,
      agent,
      tags,
      target: {
        ...('host' in target ? { host: target.host } : {}),
        port: request.target.port,
        requested: request.target.host,
      },
      // A transparent flow is about the address the agent dialled from the start (its events name it).
      addresses: 'ip' in target ? [formatAddress(target.ip)] : request.original ? [request.original.address] : [],
      decision: { action: 'deny', rule: 'default-deny' },
      ...(credentials ? { credentialUser: credentials.user } : {}),
    };

    if (quarantined && agent.mode === 'enforce') return this.deny(flow, quarantineDenial(agent.name, quarantined));
    // A pool or tunnelling service is a detection whether or not a rule would allow it.
    const intel = this.judge.judgeTarget(flow);
    if (intel.block) return this.deny(flow, { action: 'deny', rule: intel.rule, reason: intel.reason });
    if ('host' in target) {
      const early = snapshot.decideName(agent, target.host, flow.target.port);
      if (early && !this.overriddenByAudit(agent, early)) return this.deny(flow, early);
      const resolution = await this.resolver.resolve(target.host);
      // A transparent flow's name that does not resolve cannot vouch for the address: pinning denies it.
      if (!resolution.ok && !request.original) {
        this.emitFlow('flow.closed', flow, { outcome: 'failure', reason: resolution.message, error: { code: resolution.code, message: resolution.message } });
        return { kind: 'unresolvable', flow, code: resolution.code, reason: resolution.message };
      }
      flow.addresses = resolution.ok ? resolution.addresses : [];
      if (request.original) {
        const pinned = pinToOriginal(target.host, flow.addresses, request.original);
        // From here the flow is about the address the agent dialled (its events name it, whatever happens).
        flow.addresses = [request.original.address];
        if ('decision' in pinned && !this.overriddenByAudit(agent, pinned.decision)) return this.deny(flow, pinned.decision);
      }
    }
    // A reload that landed during the lookup re-judged the flows registered at that moment, and this one
    // was not among them: judge it by the rules in force now, re-identifying its agent by name as a
    // reload does for live flows. Nothing awaits between here and registration.
    const current = this.snapshot;
    if (current !== snapshot) {
      const reidentified = current.agentNamed(agent.name) ?? current.unknownAgent;
      const stillOwner = this.stillIdentifies(current, flow, reidentified);
      if (stillOwner !== true) return this.deny(flow, { action: 'deny', rule: 'identity', reason: `policy reload: ${stillOwner}` });
      flow.agent = reidentified;
    }
    // The agent may have been quarantined while its name was being resolved.
    const quarantinedMeanwhile = this.quarantine.get(flow.agent.name);
    if (quarantinedMeanwhile && flow.agent.mode === 'enforce') return this.deny(flow, quarantineDenial(flow.agent.name, quarantinedMeanwhile));
    const decision = current.decideAddresses(flow.agent, { ...('host' in target ? { host: target.host } : {}), addresses: flow.addresses, port: flow.target.port });
    flow.decision = decision;
    if (decision.action === 'deny' && !this.overriddenByAudit(flow.agent, decision)) return this.deny(flow, decision);
    const overBudget = this.budgets.admit(flow);
    if (overBudget) return this.deny(flow, overBudget);

    const slot = this.registry.tryAdd(flow);
    if (!slot.ok) {
      const limitDecision: Decision = { action: 'deny', rule: `limit.${slot.scope}`, reason: slot.reason };
      this.emitFlow('flow.denied', flow, { decision: limitDecision });
      return { kind: 'limited', flow, reason: slot.reason, scope: slot.scope };
    }
    const name = decision.action === 'deny' ? 'flow.denied' : decision.action === 'alert' ? 'flow.alerted' : 'flow.allowed';
    this.emitFlow(name, flow, { decision, enforced: decision.action === 'deny' ? false : undefined });
    this.budgets.started(flow);
    return { kind: 'admitted', flow };
  }

  /** A client presented credentials that match no agent: an alert, whatever the entry mode. */
  reportBadCredentials(request: Omit<FlowRequest, 'target'> & { target?: FlowRequest['target'] }, user: string, tags?: Tags): void {
    this.events.emit({
      name: 'flow.denied',
      kind: 'alert',
      action: 'deny',
      ruleId: 'auth.invalid-credentials',
      reason: `invalid proxy credentials for user ${user}`,
      entry: request.entry,
      source: { ip: request.client.address, port: request.client.port },
      ...(request.target ? { destination: { domain: request.target.host, port: request.target.port } } : {}),
      ...(tags ? { tags } : {}),
    });
  }

  /** Dials the flow's vetted addresses. On failure the flow is closed (event) and released. */
  async connect(flow: Flow): Promise<DialResult> {
    const result = await dialFirst(flow.addresses, flow.target.port, this.options.connectMs);
    if (result.ok && flow.revoked !== undefined) {
      // Revoked while dialling: not a byte may reach the destination.
      result.socket.destroy();
      const message = flow.revoked;
      this.close(flow, { outcome: 'failure', reason: message, error: { code: 'REVOKED', message } });
      return { ok: false, code: 'ERROR', message };
    }
    if (result.ok) flow.dialled = result.address;
    else this.close(flow, { outcome: 'failure', reason: result.message, error: { code: result.code, message: result.message } });
    return result;
  }

  /**
   * Runs an admitted byte tunnel: acknowledge, peek and classify before dialling, judge, relay with
   * inspection (src/pipeline/tunnel.ts). `early` holds bytes the client sent with its request.
   */
  tunnel(flow: Flow, client: net.Socket, early: Buffer, acknowledge: () => void): Promise<void> {
    if (!this.options.inspect) return this.plainTunnel(flow, client, early, acknowledge);
    return runTunnel(this, this.judge, { peekMs: this.options.peekMs, peekBytes: PEEK_BYTES }, flow, client, early, acknowledge);
  }

  /** A tunnel judged on its target only: dial, acknowledge, relay (no peek, no classification). */
  private async plainTunnel(flow: Flow, client: net.Socket, early: Buffer, acknowledge: () => void): Promise<void> {
    if (this.snapshot.ruleById(flow.decision.rule)?.intercept) {
      // Interception needs the bytes classified; relaying them raw would bypass it.
      this.close(flow, { outcome: 'failure', reason: 'SSH interception needs inspect: true' });
      return void client.destroy();
    }
    const dial = await this.connect(flow);
    if (!dial.ok) return void client.destroy();
    acknowledge();
    this.relay(flow, client, dial.socket, undefined, early.length > 0 ? [early] : []);
  }

  /** Mining inspection of one plain-HTTP exchange (the absolute-URI entry). */
  inspectHttp(flow: Flow): HttpExchangeInspection {
    return new HttpExchangeInspection(this.judge, flow);
  }

  /**
   * Relays an admitted, connected flow until both sides are done, then emits `flow.closed`. `held` are
   * the agent's bytes read before the relay (the peeked first flight): they go upstream first, once
   * the budget meter has passed them like any later chunk.
   */
  relay(flow: Flow, client: net.Socket, upstream: net.Socket, inspector?: RelayInspector, held: readonly Buffer[] = []): RelayHandle {
    const clientWrittenBefore = client.bytesWritten;
    const meter = this.budgets.meter(flow);
    // The first flight is metered before it is sent, not after: otherwise every new flow (or many at
    // once) could push a whole peek's worth past a spent budget. It is written before the relay starts,
    // which passes on a FIN the agent already sent (and forwards only later reads).
    const heldBytes = held.reduce((sum, chunk) => sum + chunk.length, 0);
    // Revoked between the dial and now (a reload can land in between): end it before it carries data.
    const refused = flow.revoked ?? (heldBytes > 0 ? meter(heldBytes) : undefined);
    if (refused === undefined) for (const chunk of held) upstream.write(chunk);
    const handle = relay(client, upstream, this.options.idleMs, inspector, meter);
    flow.terminate = handle.terminate;
    flow.liveBytes = () => ({ up: upstream.bytesWritten, down: Math.max(0, client.bytesWritten - clientWrittenBefore) });
    if (refused !== undefined) handle.terminate(refused);
    void handle.done.then((result) =>
      this.close(flow, {
        // Closed by the peers or by going idle is a normal end; anything else (an error, a refusal, a
        // reload, a quarantine) is not.
        outcome: result.reason === 'closed' || result.reason.startsWith('idle') ? 'success' : 'failure',
        reason: result.reason,
        source: { bytes: result.bytesUp },
        destination: { bytes: result.bytesDown },
      }),
    );
    return handle;
  }

  /**
   * The flow's bytes got it refused (protocol mismatch, detection): a second decision, recorded on the
   * flow so that its `flow.closed` says deny and names the detection. The caller ends the flow.
   */
  recordRefusal(flow: Flow, verdict: Extract<Verdict, { block: true }>): void {
    this.recordDenial(flow, { action: 'deny', rule: verdict.rule, reason: verdict.reason });
  }

  /** Refused on its bytes before it was ever relayed: the second decision and the close. */
  refuseClassified(flow: Flow, verdict: Extract<Verdict, { block: true }>): void {
    this.recordRefusal(flow, verdict);
    this.close(flow, { outcome: 'failure', reason: verdict.reason });
  }

  /** Ends a flow that did not go through `relay` (plain HTTP requests, failed dials). */
  close(flow: Flow, details: CloseDetails): void {
    this.registry.remove(flow);
    this.budgets.closed(flow);
    this.emitFlow('flow.closed', flow, details);
  }

  /** Terminates the flow now, or marks it so that connect / relay end it as soon as they get to it. */
  private revoke(flow: Flow, reason: string): void {
    flow.revoked = reason;
    flow.terminate?.(reason);
  }

  private deny(flow: Flow, decision: Decision): Admission {
    this.recordDenial(flow, decision);
    return { kind: 'denied', flow, decision };
  }

  /** An enforced denial: the flow carries it (its close event says deny) and it is an event of its own. */
  private recordDenial(flow: Flow, decision: Decision): void {
    flow.decision = decision;
    this.emitFlow('flow.denied', flow, { decision, enforced: true });
  }

  /** Audit agents are never blocked; their denials are reported with `enforced: false`. */
  private overriddenByAudit(agent: AgentPolicy, decision: Decision): boolean {
    return decision.action === 'deny' && agent.mode === 'audit';
  }

  private emitFlow(name: EventInput['name'], flow: Flow, details: CloseDetails & { decision?: Decision; enforced?: boolean | undefined }): void {
    const decision = details.decision;
    this.events.emit({
      name,
      kind: name === 'flow.alerted' || (name === 'flow.denied' && flow.agent.mode === 'enforce') ? 'alert' : 'event',
      flowId: flow.id,
      agent: flow.agent.name,
      agentMode: flow.agent.mode,
      entry: flow.entry,
      tags: flow.tags,
      // Members in sorted order (bytes, domain, ip, port): the chain's canonical JSON is then JSON.stringify.
      source: { ...details.source, ip: flow.client.address, port: flow.client.port },
      destination: {
        ...details.destination,
        ...(flow.target.host ? { domain: flow.target.host } : {}),
        ...(flow.dialled ? { ip: flow.dialled } : flow.addresses.length === 1 ? { ip: flow.addresses[0] } : {}),
        port: flow.target.port,
      },
      resolved: flow.addresses,
      ...(decision ? { action: decision.action, ruleId: decision.rule, reason: decision.reason } : {}),
      ...(name === 'flow.closed' ? { durationNs: elapsedNs(flow), action: flow.decision.action, ruleId: flow.decision.rule } : {}),
      ...(details.reason !== undefined && !decision ? { reason: details.reason } : {}),
      ...(details.outcome ? { outcome: details.outcome } : {}),
      ...(details.enforced !== undefined ? { enforced: details.enforced } : {}),
      ...(details.error ? { error: details.error } : {}),
      ...(details.url ? { url: details.url } : {}),
      ...(flow.protocol ? { protocol: flow.protocol } : {}),
      ...(flow.classification ? { classification: { ...flow.classification, ...(flow.classifiedMs !== undefined ? { time_ms: flow.classifiedMs } : {}) } } : {}),
    });
  }
}

function quarantineDenial(agent: string, entry: QuarantineEntry): Decision {
  return {
    action: 'deny',
    rule: 'quarantine',
    reason: `agent ${agent} is quarantined since ${entry.since} (${entry.reason}); all egress is refused ${entry.expiresAt ? `until ${entry.expiresAt}` : 'until an operator releases it'}`,
  };
}

export interface CloseDetails {
  outcome?: 'success' | 'failure';
  reason?: string;
  error?: { code?: string; message: string };
  source?: { bytes?: number };
  destination?: { bytes?: number };
  url?: { full?: string; method?: string; status?: number };
}
