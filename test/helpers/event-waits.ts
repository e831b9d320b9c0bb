import type { ChokepointEvent } from '../../src/events/types.js';
import type { EventLog } from './proxy.js';

/**
 * Waits for a matching event emitted *after* this call, so that an earlier event of the same kind (a
 * previous reload, another flow's close) cannot satisfy it. Call it before triggering the action.
 */
export function nextEvent(log: EventLog, match: (event: ChokepointEvent) => boolean, ms = 10_000): Promise<ChokepointEvent> {
  const after = log.events.at(-1)?.event.sequence ?? 0;
  return log.waitFor((event) => event.event.sequence > after && match(event), ms);
}

/**
 * The admission event (allowed, alerted, or audit-denied) of the flow whose client socket has `localPort`.
 * The pipeline emits it before the proxy answers, so once a tunnel is open it is already logged; the
 * latest one wins because an ephemeral port can be reused by a later connection.
 */
export function admittedFlowOf(log: EventLog, localPort: number | undefined): ChokepointEvent {
  const event = log.events.findLast(
    (candidate) =>
      ['flow.allowed', 'flow.alerted', 'flow.denied'].includes(candidate.event.action) &&
      candidate.chokepoint.flow_id !== undefined &&
      candidate.source?.port === localPort,
  );
  if (!event) throw new Error(`no admission event for client port ${localPort}`);
  return event;
}

/** Polls `condition` on every turn of the event loop until it holds; rejects after `ms`. */
export async function eventually(condition: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`still waiting after ${ms} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** `promise`, or a rejection with `message` if it has not settled after `ms`. */
export async function withDeadline<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
