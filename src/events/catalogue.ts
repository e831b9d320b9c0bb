import type { Detection } from '../inspect/types.js';
import { DETECTION_KINDS } from '../policy/types.js';
import type { EventName } from './types.js';

/**
 * Every event name Chokepoint can emit, as runtime constants: the committed JSON Schema
 * (schema/events/v1/chokepoint-event.schema.json) must describe each of them, and a test fails when
 * one is added here (or to DETECTION_KINDS) without a schema.
 */

/** Version of the event record's shape; bumped when a field changes meaning or disappears. */
export const EVENT_SCHEMA_VERSION = '1.1.0';

/** The ECS release whose field names the record follows (ECS `ecs.version`). */
export const ECS_VERSION = '8.11.0';

export const LIFECYCLE_EVENT_NAMES = [
  'flow.allowed',
  'flow.alerted',
  'flow.denied',
  'flow.closed',
  'config.reloaded',
  'config.rejected',
  'proxy.started',
  'proxy.stopped',
  'proxy.heartbeat',
  'listener.error',
  'agent.quarantined',
  'agent.released',
  'flow.killed',
  'marker.set',
  'dns.query',
  'dns.overloaded',
  'dns.malformed',
  'quarantine.webhook_delivered',
  'quarantine.webhook_failed',
  'sink.error',
  'sink.dropped',
  'sink.spool_overflow',
  'sink.dead_letter',
  'ssh.host_key',
  'ssh.command',
  'ssh.refused',
  'ssh.upstream_failed',
] as const satisfies readonly EventName[];

/** Fails to compile when a name is added to the EventName union but not to the list above. */
type Unlisted = Exclude<EventName, (typeof LIFECYCLE_EVENT_NAMES)[number] | `detection.${string}`>;
const everyEventNameListed: [Unlisted] extends [never] ? true : Unlisted = true;
void everyEventNameListed;

/**
 * Classifier detection types that name an event without being a policy kind (`protocol_mismatch` is
 * judged as `protocol_not_allowed`, but its event keeps the classifier's name).
 */
const CLASSIFIER_ONLY_DETECTIONS = ['protocol_mismatch'] as const satisfies readonly Detection['type'][];

/** Fails to compile when a classifier gains a detection type that no list above names. */
type Missing = Exclude<Detection['type'], (typeof DETECTION_KINDS)[number] | (typeof CLASSIFIER_ONLY_DETECTIONS)[number]>;
const everyClassifierTypeListed: [Missing] extends [never] ? true : Missing = true;
void everyClassifierTypeListed;

/** Detections raised by a part other than the classifiers, with an action of their own (budgets). */
const OTHER_DETECTIONS = ['budget_exceeded'] as const;

/** `detection.<kind>` for every policy kind, classifier-only type and other detection. */
export const DETECTION_EVENT_NAMES: readonly EventName[] = [...DETECTION_KINDS, ...CLASSIFIER_ONLY_DETECTIONS, ...OTHER_DETECTIONS].map(
  (kind): EventName => `detection.${kind}`,
);

export const EVENT_NAMES: readonly EventName[] = [...LIFECYCLE_EVENT_NAMES, ...DETECTION_EVENT_NAMES];
