import type { ChokepointEvent, EventInput } from './types.js';

/** Something that receives finished events: stdout, a file, later syslog / HTTP sinks. */
export interface EventSink {
  write(event: ChokepointEvent): void;
  /** Resolves once everything written so far is handed to the OS. */
  flush(): Promise<void>;
}

/**
 * Stamps events (timestamp with milliseconds, per-process sequence number), shapes them into the
 * canonical ECS-style record, and hands them to every sink. Sequence numbers are assigned here, in
 * one place, so a gap in a sink's output always means a lost event.
 */
export class EventBus {
  private sequence = 0;
  private readonly sinks: EventSink[] = [];
  private readonly listeners = new Set<(event: ChokepointEvent) => void>();
  /** Adds to each event before it is shaped (training-step markers → labels); one hook, set once. */
  private enrich: ((input: EventInput) => EventInput) | undefined;

  setEnricher(enrich: (input: EventInput) => EventInput): void {
    this.enrich = enrich;
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
    for (const sink of this.sinks) sink.write(event);
    for (const listener of this.listeners) listener(event);
    return event;
  }

  async flush(): Promise<void> {
    await Promise.all(this.sinks.map((sink) => sink.flush()));
  }
}

function shapeEvent(input: EventInput, sequence: number, now: Date): ChokepointEvent {
  const event: ChokepointEvent = {
    '@timestamp': now.toISOString(),
    event: { action: input.name, sequence, kind: input.kind ?? 'event' },
    chokepoint: {},
  };
  if (input.outcome) event.event.outcome = input.outcome;
  if (input.reason !== undefined) event.event.reason = input.reason;
  if (input.durationNs !== undefined) event.event.duration = input.durationNs;
  const cp = event.chokepoint;
  if (input.flowId) cp.flow_id = input.flowId;
  if (input.agent) cp.agent = input.agent;
  if (input.agentMode) cp.agent_mode = input.agentMode;
  if (input.entry) cp.entry = input.entry;
  if (input.action) cp.action = input.action;
  if (input.enforced !== undefined) cp.enforced = input.enforced;
  if (input.resolved && input.resolved.length > 0) cp.resolved = input.resolved;
  if (input.details) cp.details = input.details;
  if (input.classification) cp.classification = input.classification;
  if (input.detection) cp.detection = input.detection;
  if (input.dnsDetails) cp.dns = input.dnsDetails;
  if (input.ruleId) event.rule = { id: input.ruleId };
  if (input.tags && Object.keys(input.tags).length > 0) event.labels = input.tags;
  if (input.source) event.source = input.source;
  if (input.destination) {
    event.destination = input.destination;
    event.network = { transport: input.transport ?? 'tcp', ...(input.protocol ? { protocol: input.protocol } : {}) };
  }
  if (input.dns) event.dns = input.dns;
  if (input.url) event.url = input.url;
  if (input.error) event.error = input.error;
  return event;
}
