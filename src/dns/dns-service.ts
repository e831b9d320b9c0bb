/**
 * The DNS listener's logic, without sockets: one query's bytes in, the answer's bytes out (or nothing,
 * for packets that must not be answered), and one `dns.query` event per query.
 *
 *   parse ─► identify (source address) ─► quarantine ─► name check (port-free, policy/name-reach.ts)
 *         ─► record type ─► intel + tunnel detection ─► static hosts / upstream ─► vet the answer
 *         ─► remember the addresses handed out (NameMemory) ─► answer, with an EDE saying why
 *
 * Answers to refusals (decided, documented in README "DNS"):
 *  - a name the agent may not reach: NXDOMAIN + EDE 15 (Blocked) with the reason and what is allowed —
 *    the name does not exist *for this agent*; stub resolvers stop there instead of trying another
 *    server, and nothing is asked upstream;
 *  - an unidentified client (unknown agent with the built-in deny-all, or credentials required) or a
 *    quarantined agent: REFUSED + EDE 18 (Prohibited): the client itself is not served;
 *  - a suspected tunnel (deny): REFUSED + EDE 15; record types not served: REFUSED + EDE 21;
 *  - an answer whose addresses are all withheld (special ranges, denied CIDRs): SERVFAIL + EDE 15, since
 *    an empty answer would tell the client the name has no such records; when only some are withheld,
 *    the rest is answered with an EDE 15 naming what was withheld;
 *  - a name on the CNAME chain denied by a rule: NXDOMAIN + EDE 15.
 * Audit-mode agents get every answer unfiltered; what enforce mode would have done is in the event.
 */
import type { EventBus } from '../events/bus.js';
import type { DnsDetails } from '../events/types.js';
import { normaliseHostname } from '../net/hostname.js';
import type { NameMemory } from '../net/name-memory.js';
import type { PolicySnapshot } from '../pipeline/policy-snapshot.js';
import { BUILT_IN_RULES } from '../policy/decision-text.js';
import { judgeTarget, strongestAction, type ProtocolFinding } from '../policy/protocol-decision.js';
import { detectionAction, type AgentPolicy, type Decision } from '../policy/types.js';
import type { QuarantineController } from '../quarantine/controller.js';
import { filterAnswer, type FilteredAnswer } from './answer-filter.js';
import { staticAnswer } from './static-hosts.js';
import { ADDRESS_TYPES, EMPTY_ANSWER_TYPES, FORWARDED_TYPES, typeName } from './record-types.js';
import { InFlightLimiter, type InFlightLimits } from './in-flight-limit.js';
import type { CountedReporter } from './counted-reporter.js';
import { malformedReporter, overloadReporter, type MalformedPacket, type OverloadRefusal } from './overload-report.js';
import type { DnsTunnelDetector, TunnelFinding } from './tunnel-detector.js';
import type { UpstreamAnswer } from './upstream.js';
import {
  CLASSIC_UDP_SIZE,
  EDE,
  encodeResponse,
  parseQuery,
  RCODE,
  RCODE_NAMES,
  type DnsQuery,
  type DnsRecord,
  type ExtendedError,
  type Rcode,
  type ResponseParts,
} from './wire.js';

export interface DnsClient {
  address: string;
  port: number;
  transport: 'udp' | 'tcp';
}

export interface Upstream {
  ask(name: string, type: string): Promise<UpstreamAnswer>;
  /** Fails the queries still waiting (a stop), so that their answers and events come before it ends. */
  close?(): void;
}

export interface DnsServiceParts {
  policy: () => PolicySnapshot;
  /** Quarantine state, and the one way in: closes the agent's flows, announces it, calls webhooks. */
  quarantines: QuarantineController;
  events: EventBus;
  names: NameMemory;
  upstream: Upstream;
  detector: DnsTunnelDetector;
  hosts: ReadonlyMap<string, readonly string[]>;
  /** Answer TTLs are capped here, so a policy change reaches the agent's cache soon. */
  maxTtlSeconds: number;
  /** Upstream queries pending at once (per agent, in all); beyond them queries get SERVFAIL at once. */
  inFlight: InFlightLimits;
  /** How often refusals for overload and malformed packets from non-agents are reported, counted (default 10 s). */
  overloadReportMs?: number;
}

/** The largest UDP answer we send, whatever the client advertises (no IP fragmentation). */
const MAX_UDP_ANSWER = 1232;

/**
 * The most a UDP answer may weigh. A source address that is not an agent's may be spoofed: answering
 * it with more bytes than it sent would make us an amplifier against whoever owns that address (an
 * unidentified client is refused with an EDE text several times the query's size). Such clients get
 * at most the query's size (truncated, TC set): a real client comes back over TCP, which cannot be
 * spoofed. Agents' addresses are inside the sandbox network and get the full EDNS size.
 */
function answerLimit(client: DnsClient, queryBytes: number, identified: boolean, ednsUdpSize: number | undefined): number {
  if (client.transport === 'tcp') return 65535;
  const advertised = Math.min(MAX_UDP_ANSWER, Math.max(CLASSIC_UDP_SIZE, ednsUdpSize ?? CLASSIC_UDP_SIZE));
  return identified ? advertised : Math.min(advertised, queryBytes);
}

/** What one query came to: the response and what the event says about it. */
interface Outcome {
  rcode: Rcode;
  answers?: DnsRecord[];
  authorities?: DnsRecord[];
  ede?: ExtendedError;
  decision?: Decision;
  enforced?: boolean;
  details?: DnsDetails;
  addresses?: string[];
  /** Refused for overload: reported, counted, by the OverloadReporter instead of a dns.query event. */
  overloaded?: true;
}

export class DnsService {
  private readonly inFlight: InFlightLimiter;
  private readonly overload: CountedReporter<OverloadRefusal>;
  private readonly malformed: CountedReporter<MalformedPacket>;

  constructor(private readonly parts: DnsServiceParts) {
    this.inFlight = new InFlightLimiter(parts.inFlight);
    this.overload = overloadReporter(parts.events, parts.overloadReportMs ?? 10_000);
    this.malformed = malformedReporter(parts.events, parts.overloadReportMs ?? 10_000);
  }

  /** Answers being worked out (a stop waits for them: their dns.query events come before proxy.stopped). */
  private readonly answering = new Set<Promise<unknown>>();

  /** The answer to send back, or undefined when the packet must be dropped unanswered. */
  answer(bytes: Buffer, client: DnsClient): Promise<Buffer | undefined> {
    const answered = this.answerQuery(bytes, client);
    this.answering.add(answered);
    const forget = (): void => void this.answering.delete(answered);
    answered.then(forget, forget);
    return answered;
  }

  /** Ends the upstream queries still waiting and resolves once every answer (and its event) is done. */
  async close(): Promise<void> {
    this.parts.upstream.close?.();
    await Promise.allSettled([...this.answering]);
  }

  private async answerQuery(bytes: Buffer, client: DnsClient): Promise<Buffer | undefined> {
    const parsed = parseQuery(bytes);
    if (!parsed.ok) {
      const identified = this.parts.policy().identities.bySource(client.address) !== undefined;
      // Garbage from a source that is no agent's (spoofable, and as plentiful as the sender likes) is
      // counted, not logged packet by packet; an agent's own malformed queries are each an event.
      if (identified) {
        this.emit(client, undefined, { id: parsed.answer?.id ?? 0, name: parsed.answer?.question?.name ?? '', type: parsed.answer?.question?.type ?? '' }, {
          rcode: parsed.answer?.rcode ?? RCODE.FORMERR,
          decision: { action: 'deny', rule: 'dns.malformed', reason: parsed.reason },
        }, parsed.answer === undefined ? 'dropped' : undefined);
      } else {
        this.malformed.note('malformed', { client: { ip: client.address, port: client.port, transport: client.transport }, reason: parsed.reason, answered: parsed.answer !== undefined });
      }
      if (parsed.answer === undefined) return undefined;
      const { id, rcode, question, edns } = parsed.answer;
      return encodeResponse({ id, recursionDesired: false, rcode, edns, ...(question ? { question } : {}), ede: { code: EDE.OTHER, text: parsed.reason } }, answerLimit(client, bytes.length, identified, undefined));
    }
    const query = parsed.query;
    const snapshot = this.parts.policy();
    const agent = snapshot.identities.bySource(client.address);
    const outcome = await this.decide(query, client, agent ?? snapshot.unknownAgent, agent === undefined && snapshot.ruleSet.requireCredentials, snapshot);
    const parts: ResponseParts = {
      id: query.id,
      recursionDesired: query.recursionDesired,
      question: query.question,
      rcode: outcome.rcode,
      answers: outcome.answers ?? [],
      authorities: outcome.authorities ?? [],
      edns: query.ednsUdpSize !== undefined,
      ...(outcome.ede ? { ede: outcome.ede } : {}),
    };
    const response = encodeResponse(parts, answerLimit(client, bytes.length, agent !== undefined, query.ednsUdpSize));
    if (outcome.overloaded) return response;
    this.emit(client, agent ?? snapshot.unknownAgent, { id: query.id, name: query.question.name, type: query.question.type }, outcome);
    return response;
  }

  private async decide(query: DnsQuery, client: DnsClient, agent: AgentPolicy, credentialsRequired: boolean, snapshot: PolicySnapshot): Promise<Outcome> {
    const enforce = agent.mode === 'enforce';
    if (credentialsRequired) {
      return prohibited({ action: 'deny', rule: 'auth.required', reason: 'this client is not identified by its source address and proxy credentials are required; DNS is served to identified agents only' });
    }
    const quarantined = this.parts.quarantines.store.get(agent.name);
    if (quarantined && enforce) {
      return prohibited({ action: 'deny', rule: 'quarantine', reason: `agent ${agent.name} is quarantined since ${quarantined.since} (${quarantined.reason}); all egress is refused until an operator releases it` });
    }
    const normalised = normaliseHostname(query.question.name);
    if (!('host' in normalised)) {
      const why = 'ip' in normalised ? 'is an IP address, not a name' : normalised.error;
      return blocked(RCODE.NXDOMAIN, { action: 'deny', rule: 'dns.bad-name', reason: `${JSON.stringify(query.question.name)} ${why}` }, true);
    }
    const host = normalised.host;
    const view = snapshot.dnsView(agent);
    const reach = view.reach(host);
    let auditDenial: Decision | undefined;
    if (reach.kind === 'denied') {
      if (reach.decision.rule === BUILT_IN_RULES.unknownAgent) return prohibited(reach.decision);
      if (enforce) return blocked(RCODE.NXDOMAIN, reach.decision, true);
      auditDenial = reach.decision;
    }
    // An audit agent's denied name has no resolvable port; its answer is only reported, judged as for 443.
    const ports = reach.kind === 'resolvable' ? reach.ports : [443];

    const type = query.question.type;
    if (EMPTY_ANSWER_TYPES.has(type)) {
      return { rcode: RCODE.NOERROR, ede: { code: EDE.FILTERED, text: `${typeName(type)} records are not forwarded: their address hints would bypass vetting; ask for A / AAAA` }, ...audited(auditDenial) };
    }
    if (!FORWARDED_TYPES.has(type)) {
      return blocked(RCODE.REFUSED, { action: 'deny', rule: 'dns.type', reason: `${typeName(type)} queries are not served (forwarded: ${[...FORWARDED_TYPES].join(', ')})` }, true, EDE.NOT_SUPPORTED);
    }

    const refusal = this.judgeDetections(client, agent, host, type, snapshot);
    if (refusal !== undefined) return refusal;

    const fixed = this.parts.hosts.get(host);
    const upstream = fixed ? staticAnswer(host, type, fixed, this.parts.maxTtlSeconds) : await this.askUpstream(client, agent, host, type);
    if (upstream === 'overloaded') return OVERLOADED;
    if (!upstream.ok) {
      return { rcode: RCODE.SERVFAIL, ede: { code: EDE.NO_REACHABLE_AUTHORITY, text: `no upstream resolver answered: ${upstream.reason}` }, details: {}, ...audited(auditDenial) };
    }
    const upstreamRcode = upstream.rcode;
    if (upstreamRcode !== RCODE.NOERROR && upstreamRcode !== RCODE.NXDOMAIN) {
      return { rcode: RCODE.SERVFAIL, ede: { code: EDE.NETWORK_ERROR, text: `upstream ${upstream.server} answered ${RCODE_NAMES[upstreamRcode] ?? upstreamRcode}` }, details: { upstream: upstream.server }, ...audited(auditDenial) };
    }
    const filtered = filterAnswer({
      host,
      type,
      answers: upstream.answers,
      authorities: upstream.authorities,
      view,
      ports,
      maxTtlSeconds: this.parts.maxTtlSeconds,
      keepRefused: !enforce,
    });
    return this.answerWith(agent, host, type, upstreamRcode === RCODE.NXDOMAIN ? RCODE.NXDOMAIN : RCODE.NOERROR, filtered, upstream.server, auditDenial);
  }

  /** Asks upstream within the in-flight limits; 'overloaded' when they are reached (and reported). */
  private async askUpstream(client: DnsClient, agent: AgentPolicy, host: string, type: string): Promise<UpstreamAnswer | 'overloaded'> {
    const admission = this.inFlight.admit(agent.name);
    if (!admission.admitted) {
      this.overload.note(agent.name, { agent: agent.name, agentMode: agent.mode, scope: admission.scope, limit: admission.limit, client: { ip: client.address, port: client.port } });
      return 'overloaded';
    }
    try {
      return await this.parts.upstream.ask(host, type);
    } finally {
      admission.release();
    }
  }

  private answerWith(agent: AgentPolicy, host: string, type: string, rcode: Rcode, filtered: FilteredAnswer, server: string, auditDenial: Decision | undefined): Outcome {
    if (filtered.kind === 'chain-denied') {
      const reason = `${host} is an alias of ${filtered.name}, which is denied: ${filtered.decision.reason ?? filtered.decision.rule}`;
      return { ...blocked(RCODE.NXDOMAIN, { ...filtered.decision, reason }, true), details: { chain: filtered.chain, upstream: server } };
    }
    const details: DnsDetails = {
      upstream: server,
      ...(filtered.chain.length > 1 ? { chain: filtered.chain } : {}),
      ...(filtered.dropped.length > 0 ? { dropped: filtered.dropped.map(({ address, decision }) => ({ address, rule: decision.rule })) } : {}),
    };
    const enforce = agent.mode === 'enforce';
    if (filtered.addresses.length > 0) this.parts.names.remember(agent.name, host, filtered.addresses, filtered.addressTtl);
    const base: Outcome = { rcode, answers: filtered.answers, authorities: filtered.authorities, details, addresses: filtered.addresses, ...audited(auditDenial ?? filtered.chainDenial) };
    const first = filtered.dropped[0];
    if (first === undefined) return base;
    const withheld = filtered.dropped.map(({ address }) => address).join(', ');
    const why = first.decision.reason ?? first.decision.rule;
    if (!enforce) return { ...base, decision: first.decision, enforced: false };
    if (filtered.addresses.length === 0 && ADDRESS_TYPES.has(type)) {
      return { rcode: RCODE.SERVFAIL, ede: { code: EDE.BLOCKED, text: `every address of ${host} is withheld (${withheld}): ${why}` }, decision: first.decision, enforced: true, details };
    }
    return { ...base, ede: { code: EDE.BLOCKED, text: `withheld ${withheld}: ${why}` }, decision: first.decision, enforced: true };
  }

  /** Intel lists and the tunnel detector; the refusal when the strongest action blocks. */
  private judgeDetections(client: DnsClient, agent: AgentPolicy, host: string, type: string, snapshot: PolicySnapshot): Outcome | undefined {
    const ruleSet = snapshot.ruleSet;
    const findings: ProtocolFinding[] = judgeTarget(ruleSet, host, 0);
    const tunnel = this.parts.detector.observe({ agent: agent.name, name: host, type, atMs: Date.now() });
    const tunnelFinding = tunnel === undefined ? undefined : asFinding(tunnel, detectionAction(ruleSet, 'dns_tunnel'));
    const enforce = agent.mode === 'enforce';
    const reported = [...findings, ...(tunnel?.first && tunnelFinding ? [tunnelFinding] : [])];
    for (const finding of reported) this.emitDetection(client, agent, host, type, finding, enforce);
    const all = tunnelFinding ? [...findings, tunnelFinding] : findings;
    const action = strongestAction(all);
    if (!enforce || action === undefined || action === 'alert') return undefined;
    const decisive = all.find((finding) => finding.action === action);
    if (decisive === undefined) return undefined;
    const decision: Decision = { action: 'deny', rule: `detection.${decisive.kind}`, reason: decisive.reason };
    if (action === 'quarantine') {
      this.parts.quarantines.enter({ agent: agent.name, agentMode: agent.mode, reason: `${decisive.kind}: ${decisive.evidence}`, trigger: decisive.kind, rule: decision.rule });
      return prohibited(decision);
    }
    return blocked(RCODE.REFUSED, decision, true);
  }

  private emitDetection(client: DnsClient, agent: AgentPolicy, host: string, type: string, finding: ProtocolFinding, enforce: boolean): void {
    this.parts.events.emit({
      name: `detection.${finding.kind}`,
      kind: 'alert',
      agent: agent.name,
      agentMode: agent.mode,
      source: { ip: client.address, port: client.port },
      destination: { domain: host, port: 53 },
      transport: client.transport,
      protocol: 'dns',
      reason: finding.reason,
      enforced: enforce && finding.action !== 'alert',
      // Detected on the query itself, before anything was forwarded.
      detection: { kind: finding.kind, confidence: finding.confidence, evidence: `${finding.evidence} (query type ${typeName(type)})`, action: finding.action, time_to_detect_ms: 0 },
    });
  }

  private emit(client: DnsClient, agent: AgentPolicy | undefined, question: { id: number; name: string; type: string }, outcome: Outcome, dropped?: 'dropped'): void {
    const decision = outcome.decision;
    const action = decision === undefined ? 'allow' : decision.action;
    this.parts.events.emit({
      name: 'dns.query',
      kind: 'event',
      outcome: outcome.rcode === RCODE.NOERROR || outcome.rcode === RCODE.NXDOMAIN ? 'success' : 'failure',
      ...(agent ? { agent: agent.name, agentMode: agent.mode } : {}),
      source: { ip: client.address, port: client.port },
      // A malformed packet may carry no readable name: the destination then names only the port.
      destination: { ...(question.name !== '' ? { domain: question.name } : {}), port: 53 },
      transport: client.transport,
      protocol: 'dns',
      action,
      ...(decision ? { ruleId: decision.rule, ...(decision.reason !== undefined ? { reason: decision.reason } : {}) } : {}),
      ...(outcome.enforced !== undefined ? { enforced: outcome.enforced } : {}),
      ...(outcome.addresses && outcome.addresses.length > 0 ? { resolved: outcome.addresses } : {}),
      dns: {
        id: question.id,
        question: { name: question.name, type: typeName(question.type) },
        response_code: dropped ? 'DROPPED' : (RCODE_NAMES[outcome.rcode] ?? String(outcome.rcode)),
        ...(outcome.addresses && outcome.addresses.length > 0 ? { resolved_ip: outcome.addresses } : {}),
      },
      dnsDetails: { ...outcome.details, ...(outcome.ede ? { ede: outcome.ede } : {}) },
    });
  }
}

/**
 * SERVFAIL, not REFUSED: the condition is transient and the name is not refused; a stub retries later or
 * asks its next server. RFC 8914 has no code for rate limiting, hence 0 (Other) with the reason.
 */
const OVERLOADED: Outcome = {
  rcode: RCODE.SERVFAIL,
  ede: { code: EDE.OTHER, text: 'too many of your DNS queries are waiting for an upstream answer; retry once some are answered' },
  overloaded: true,
};

function blocked(rcode: Rcode, decision: Decision, enforced: boolean, code: number = EDE.BLOCKED): Outcome {
  return { rcode, ede: { code, text: decision.reason ?? decision.rule }, decision, enforced };
}

function prohibited(decision: Decision): Outcome {
  return blocked(RCODE.REFUSED, decision, true, EDE.PROHIBITED);
}

/** An audit agent's would-be denial, reported and not enforced. */
function audited(decision: Decision | undefined): Partial<Outcome> {
  return decision === undefined ? {} : { decision, enforced: false };
}

function asFinding(tunnel: TunnelFinding, action: ProtocolFinding['action']): ProtocolFinding {
  return {
    kind: 'dns_tunnel',
    action,
    confidence: tunnel.confidence,
    evidence: tunnel.evidence,
    reason: `queries under ${tunnel.parent} look like a DNS tunnel (${tunnel.evidence}); DNS is for resolving names, not for carrying data`,
  };
}
