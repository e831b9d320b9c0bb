import { eventJson } from '../events/chain.js';
import { toOcsf } from '../events/ocsf.js';
import type { ChokepointEvent } from '../events/types.js';

/** The record shape a sink writes: the canonical ECS-style event, or OCSF. */
export type EventFormat = 'ecs' | 'ocsf';

/** Turns an event into the JSON-serialisable record a sink writes. Pure. */
export type EventFormatter = (event: ChokepointEvent) => unknown;

const FORMATTERS: Record<EventFormat, EventFormatter> = {
  ecs: (event) => event,
  ocsf: toOcsf,
};

export function formatterFor(format: EventFormat): EventFormatter {
  return FORMATTERS[format];
}

/** One JSON document without a line break (JSON.stringify escapes the ones inside strings). */
export function formatLine(event: ChokepointEvent, formatter: EventFormatter): string {
  // The ECS record as the hash chain serialised it: no second serialisation, and the line verify-log reads.
  if (formatter === FORMATTERS.ecs) return eventJson(event);
  return JSON.stringify(formatter(event));
}
