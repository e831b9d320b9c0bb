import type { ChokepointEvent } from '../events/types.js';

/** The record shape a sink writes: the canonical ECS-style event, or OCSF. */
export type EventFormat = 'ecs' | 'ocsf';

/** Turns an event into the JSON-serialisable record a sink writes. Pure. */
export type EventFormatter = (event: ChokepointEvent) => unknown;

/**
 * MERGE POINT — the one place the OCSF mapping is wired. The schema branch provides a pure
 * `toOcsf(event)` in src/events/ocsf.ts; at merge this line becomes `ocsf: toOcsf`. Until then the OCSF
 * format writes the canonical record unchanged, so the switch, the config and the tests already work.
 */
const placeholderToOcsf: EventFormatter = (event) => event;

const FORMATTERS: Record<EventFormat, EventFormatter> = {
  ecs: (event) => event,
  ocsf: placeholderToOcsf,
};

export function formatterFor(format: EventFormat): EventFormatter {
  return FORMATTERS[format];
}

/** One JSON document without a line break (JSON.stringify escapes the ones inside strings). */
export function formatLine(event: ChokepointEvent, formatter: EventFormatter): string {
  return JSON.stringify(formatter(event));
}
