import type { ChokepointEvent } from '../events/types.js';
import { eventSeverity, severityRank, type Severity } from './severity.js';

/** Which events a sink takes: a minimum severity and include / exclude globs on the event name. */
export interface SinkFilterConfig {
  minSeverity?: Severity;
  /** Globs on `event.action` ("detection.*", "flow.denied"); absent = every event. */
  events?: string[];
  /** Globs of events to leave out even when `events` matches them. */
  excludeEvents?: string[];
}

export type EventPredicate = (event: ChokepointEvent) => boolean;

export function compileFilter(config: SinkFilterConfig): EventPredicate {
  const include = config.events?.map(globToRegExp);
  const exclude = config.excludeEvents?.map(globToRegExp) ?? [];
  const minimum = config.minSeverity === undefined ? 0 : severityRank(config.minSeverity);
  return (event) => {
    const name = event.event.action;
    if (include && !include.some((pattern) => pattern.test(name))) return false;
    if (exclude.some((pattern) => pattern.test(name))) return false;
    return minimum === 0 || severityRank(eventSeverity(event)) >= minimum;
  };
}

/** `*` matches any run of characters (dots too: "detection.*" takes "detection.ssh.banner"), `?` one. */
export function globToRegExp(glob: string): RegExp {
  const body = glob
    .split('')
    .map((char) => (char === '*' ? '.*' : char === '?' ? '.' : char.replace(/[\\^$.|+()[\]{}]/g, '\\$&')))
    .join('');
  return new RegExp(`^${body}$`);
}
