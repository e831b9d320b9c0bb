/**
 * The canonical event record. Field names follow ECS (Elastic Common Schema) where ECS has one
 * (`@timestamp`, `event.*`, `source.*`, `destination.*`, `rule.*`, `network.*`, `labels`); what ECS has no
 * name for lives under `chokepoint.*`. One record per decision and one per closed flow, plus
 * lifecycle events (`proxy.*`, `config.*`).
 */

import type { ChainFields } from './chain.js';
import type { SeverityLabel } from './severity.js';

export type EventName =
  | 'flow.allowed'
  | 'flow.alerted'
  | 'flow.denied'
  | 'flow.closed'
  | 'config.reloaded'
  | 'config.rejected'
  | 'proxy.started'
  | 'proxy.stopped'
  | 'proxy.heartbeat'
  | 'listener.error'
  | 'agent.quarantined'
  | 'agent.released'
  /** An operator ended a live flow through the admin API (its flow.closed follows). */
  | 'flow.killed'
  /** A trainer set the agent's training-step marker: its later events carry it in `labels`. */
  | 'marker.set'
  | 'dns.query'
  /** Upstream queries refused because too many were in flight (counted: one event per agent per interval). */
  | 'dns.overloaded'
  /** Malformed or unanswerable DNS packets from sources that are not agents (counted, like dns.overloaded). */
  | 'dns.malformed'
  | 'quarantine.webhook_delivered'
  | 'quarantine.webhook_failed'
  | 'detection.budget_exceeded'
  | 'sink.error'
  | 'sink.dropped'
  | 'sink.spool_overflow'
  /** An HTTP sink set aside events its collector rejected as malformed (400/413/422), after retries. */
  | 'sink.dead_letter'
  /** SSH interception (intercept: ssh): the proxy's host key, programs run, requests refused, upstream failures. */
  | 'ssh.host_key'
  | 'ssh.command'
  | 'ssh.refused'
  | 'ssh.upstream_failed'
  | `detection.${string}`;

export type EntryMode = 'http' | 'connect' | 'socks5' | 'transparent';

/** Correlation tags of a flow: run / episode / step / call and any other `key=value` the client sent. */
export type Tags = Record<string, string>;

export interface EndpointFields {
  ip?: string;
  port?: number;
  domain?: string;
  /** Bytes sent by this endpoint (ECS `source.bytes` / `destination.bytes`). */
  bytes?: number;
}

/** What a caller supplies; the bus adds `@timestamp` and `event.sequence`. */
export interface EventInput {
  name: EventName;
  kind?: 'event' | 'alert' | 'state';
  outcome?: 'success' | 'failure' | 'unknown';
  reason?: string;
  /** Flow duration in nanoseconds (ECS `event.duration`). */
  durationNs?: number;
  flowId?: string;
  agent?: string;
  agentMode?: 'enforce' | 'audit';
  entry?: EntryMode;
  /** The decision: allow / alert / deny. */
  action?: 'allow' | 'alert' | 'deny';
  /** False when a deny was only reported (audit mode). */
  enforced?: boolean;
  ruleId?: string;
  tags?: Tags;
  source?: EndpointFields;
  destination?: EndpointFields;
  /** Every address the destination name resolved to, not only the one dialled. */
  resolved?: string[];
  url?: { full?: string; method?: string; status?: number };
  error?: { code?: string; message: string };
  /** Free-form details for lifecycle events (listener addresses, config errors, counts). */
  details?: Record<string, unknown>;
  /** What the flow's bytes say it speaks (ECS `network.protocol`), and the facts read from them. */
  protocol?: string;
  classification?: ClassificationFields;
  detection?: DetectionFields;
  /** Transport of the event's network leg; tcp unless said (DNS queries over UDP). */
  transport?: 'tcp' | 'udp';
  /** A DNS query and its answer (ECS `dns.*`), and what Chokepoint did to it (`chokepoint.dns`). */
  dns?: DnsFields;
  dnsDetails?: DnsDetails;
}

/** ECS `dns.*` for one query and the answer Chokepoint gave. */
export interface DnsFields {
  id: number;
  question: { name: string; type: string };
  response_code: string;
  /** The addresses handed out. */
  resolved_ip?: string[];
  answers?: Array<{ name: string; type: string; data: string; ttl: number }>;
}

/** What is Chokepoint's own: the Extended DNS Error sent, the chain followed, the addresses withheld. */
export interface DnsDetails {
  ede?: { code: number; text: string };
  chain?: string[];
  dropped?: Array<{ address: string; rule: string }>;
  upstream?: string;
}

/** Protocol facts as they appear in events (TLS SNI / ALPN / JA4, SSH banners / HASSH, Stratum…). */
export interface ClassificationFields {
  tls?: { sni?: string; alpn?: string[]; versions?: string[]; ja4?: string; ja3?: string; ech?: boolean };
  http?: { method?: string; host?: string; target?: string; user_agent?: string; upgrade?: string };
  ssh?: { client_banner?: string; server_banner?: string; hassh?: string; hassh_server?: string };
  stratum?: { dialect?: string; method?: string; agent?: string; login?: string; worker?: string; algorithm?: string };
  websocket?: boolean;
  /** Milliseconds from the flow's start until its protocol was named (tunnels only). */
  time_ms?: number;
}

export interface DetectionFields {
  /** Policy kind (stratum, sni_mismatch, ssh_not_allowed, …). */
  kind: string;
  confidence: 'low' | 'medium' | 'high';
  evidence: string;
  /** What the policy did about it. */
  action: 'alert' | 'deny' | 'quarantine';
  /** Milliseconds from the flow's start to the detection. */
  time_to_detect_ms: number;
  direction?: 'up' | 'down';
}

export interface ChokepointEvent {
  '@timestamp': string;
  /** ECS release the field names follow (events/catalogue.ts). */
  ecs: { version: string };
  event: {
    action: EventName;
    sequence: number;
    kind: 'event' | 'alert' | 'state';
    /** 1 informational … 5 critical, the same number as OCSF `severity_id` (events/severity.ts). */
    severity: number;
    outcome?: 'success' | 'failure' | 'unknown';
    reason?: string;
    duration?: number;
  };
  chokepoint: {
    /** Version of this record's shape (schema/events/v1/). */
    schema_version: string;
    /** The name of `event.severity`: informational, low, medium, high, critical. */
    severity_label: SeverityLabel;
    /** Tamper evidence: this event's hash and the previous one's (events/chain.ts). */
    chain?: ChainFields;
    flow_id?: string;
    agent?: string;
    agent_mode?: 'enforce' | 'audit';
    entry?: EntryMode;
    action?: 'allow' | 'alert' | 'deny';
    enforced?: boolean;
    resolved?: string[];
    details?: Record<string, unknown>;
    classification?: ClassificationFields;
    detection?: DetectionFields;
    dns?: DnsDetails;
  };
  rule?: { id: string };
  labels?: Tags;
  source?: EndpointFields;
  destination?: EndpointFields;
  network?: { transport: 'tcp' | 'udp'; protocol?: string };
  dns?: DnsFields;
  url?: { full?: string; method?: string; status?: number };
  error?: { code?: string; message: string };
}
