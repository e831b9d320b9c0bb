import { ECS_VERSION, EVENT_SCHEMA_VERSION } from './catalogue.js';
import { HashChain } from './chain.js';
import { eventSeverity } from './severity.js';
import type { ChokepointEvent, EventInput } from './types.js';

/** Something that receives finished events: stdout, a file, later syslog / HTTP sinks. */
export interface EventSink {
  write(event: ChokepointEvent): void;
  /** Resolves once everything written so far is handed to the OS. */
  flush(): Promise<void>;
}

export interface EventBusOptions {
  /** Hash-chain every event (default). Off only to measure what the chain costs (bench/event-chain.ts). */
  chain?: boolean;
}

/**
 * Stamps events (timestamp with milliseconds, per-process sequence number, severity, hash chain),
 * shapes them into the canonical ECS-style record, and hands them to every sink. Sequence numbers and
 * chain links are assigned here, in one place, so a gap in a sink's output always means a lost event.
 */
export class EventBus {
  private sequence = 0;
  private readonly chain: HashChain | undefined;
  private readonly sinks: EventSink[] = [];
  private readonly listeners = new Set<(event: ChokepointEvent) => void>();
  /** Adds to each event before it is shaped (training-step markers → labels); one hook, set once. */
  private enrich: ((input: EventInput) => EventInput) | undefined;
  /**
   * Events linked while another event is being delivered (a sink's report, a subscriber that emits):
   * delivered after it, so every sink and subscriber sees events in sequence (= chain) order.
   */
  private readonly pending: ChokepointEvent[] = [];
  private delivering = false;

  setEnricher(enrich: (input: EventInput) => EventInput): void {
    this.enrich = enrich;
  }

  constructor(options: EventBusOptions = {}) {
    this.chain = options.chain === false ? undefined : new HashChain();
  }

  /** How many events this bus has emitted (the last sequence number). */
  get emitted(): number {
    return this.sequence;
  }

  addSink(sink: EventSink): void {
    this.sinks.push(sink);
  }

  /** In-process subscription (tests, the admin API); called synchronously after the sinks. */
  subscribe(listener: (event: ChokepointEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit(input: EventInput): ChokepointEvent {
    const event = shapeEvent(this.enrich ? this.enrich(input) : input, ++this.sequence, new Date());
    this.chain?.link(event);
    this.pending.push(event);
    if (!this.delivering) this.deliverPending();
    return event;
  }

  private deliverPending(): void {
    this.delivering = true;
    try {
      for (let next = this.pending.shift(); next !== undefined; next = this.pending.shift()) {
        for (const sink of this.sinks) sink.write(next);
        for (const listener of this.listeners) listener(next);
      }
    } finally {
      this.delivering = false;
    }
  }

  async flush(): Promise<void> {
    await Promise.all(this.sinks.map((sink) => sink.flush()));
  }
}

/**
 * Builds the record with every object's keys in sorted order (the order canonical JSON writes them),
 * so that the hash chain's canonical JSON is a plain JSON.stringify (src/events/canonical-json.ts). The
 * members and their values are the same whatever the order; only the construction order matters here.
 */
function shapeEvent(input: EventInput, sequence: number, now: Date): ChokepointEvent {
  const severity = eventSeverity(input);
  const cp: Omit<ChokepointEvent['chokepoint'], 'schema_version' | 'severity_label'> = {};
  if (input.action) cp.action = input.action;
  if (input.agent) cp.agent = input.agent;
  if (input.agentMode) cp.agent_mode = input.agentMode;
  // `chain` sorts here; the chain puts it in its place (HashChain.link).
  if (input.classification) cp.classification = input.classification;
  if (input.details) cp.details = input.details;
  if (input.detection) cp.detection = input.detection;
  if (input.dnsDetails) cp.dns = input.dnsDetails;
  if (input.enforced !== undefined) cp.enforced = input.enforced;
  if (input.entry) cp.entry = input.entry;
  if (input.flowId) cp.flow_id = input.flowId;
  if (input.resolved && input.resolved.length > 0) cp.resolved = input.resolved;
  const chokepoint = cp as ChokepointEvent['chokepoint'];
  chokepoint.schema_version = EVENT_SCHEMA_VERSION;
  chokepoint.severity_label = severity.label;

  // The required members are set right below; the cast only lets them be set in sorted order.
  const eventFields = { action: input.name } as ChokepointEvent['event'];
  if (input.durationNs !== undefined) eventFields.duration = input.durationNs;
  eventFields.kind = input.kind ?? 'event';
  if (input.outcome) eventFields.outcome = input.outcome;
  if (input.reason !== undefined) eventFields.reason = input.reason;
  eventFields.sequence = sequence;
  eventFields.severity = severity.value;

  // As above: ecs and event are set below, between the members that sort before and after them.
  const event = { '@timestamp': now.toISOString(), chokepoint } as ChokepointEvent;
  if (input.destination) event.destination = input.destination;
  if (input.dns) event.dns = input.dns;
  event.ecs = { version: ECS_VERSION };
  if (input.error) event.error = input.error;
  event.event = eventFields;
  if (input.tags && Object.keys(input.tags).length > 0) event.labels = input.tags;
  if (input.destination) event.network = input.protocol ? { protocol: input.protocol, transport: input.transport ?? 'tcp' } : { transport: input.transport ?? 'tcp' };
  if (input.ruleId) event.rule = { id: input.ruleId };
  if (input.source) event.source = input.source;
  if (input.url) event.url = input.url;
  return event;
}
