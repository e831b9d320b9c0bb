import type { EventInput } from '../events/types.js';

/** How a sink tells the bus about its own trouble (the bus's `emit`). */
export type EmitEvent = (input: EventInput) => void;

/**
 * Counts occurrences and reports them at most once per `intervalMs`: the first occurrence of a quiet
 * period on the next turn, the ones after it together when the period ends. Reports happen on a
 * later turn, never inside the caller, so a sink is never re-entered by its own report.
 */
class Throttle {
  private pending = 0;
  private last = '';
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly intervalMs: number,
    private readonly report: (count: number, last: string) => void,
  ) {}

  add(count: number, last: string): void {
    this.pending += count;
    this.last = last;
    if (this.timer === undefined) {
      // Quiet until now: report on the next turn, then hold further reports for one interval.
      this.timer = setTimeout(() => this.tick(), 0).unref();
    }
  }

  private tick(): void {
    if (this.pending === 0) {
      this.timer = undefined;
      return;
    }
    this.flush();
    this.timer = setTimeout(() => this.tick(), this.intervalMs).unref();
  }

  flush(): void {
    const count = this.pending;
    this.pending = 0;
    if (count > 0) this.report(count, this.last);
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}

/**
 * A sink's own events (`sink.error`, `sink.dropped`, `sink.spool_overflow`), rate-limited so that a
 * dead receiver produces a handful of events rather than one per event it failed to deliver.
 */
export class SinkReporter {
  private readonly errors: Throttle;
  private readonly drops: Throttle;
  private readonly deadLetters: Throttle;
  private readonly deadLettersLost: Throttle;
  /** Where dead letters go (set by an HTTP sink), for the report. */
  deadLetterFile = '';
  private closed = false;

  private readonly emit: EmitEvent;

  constructor(
    private readonly sink: string,
    emit: EmitEvent,
    intervalMs = 5_000,
  ) {
    // Reports run from timers: a sink that throws while receiving one must not take the process down.
    this.emit = (input) => {
      try {
        emit(input);
      } catch {
        // Nowhere left to report it; the sink's own counters still tell.
      }
    };
    this.errors = new Throttle(intervalMs, (count, message) =>
      this.emit({ name: 'sink.error', kind: 'alert', outcome: 'failure', reason: `sink ${sink}: ${message}`, details: { sink, failures: count } }),
    );
    this.drops = new Throttle(intervalMs, (count) =>
      this.emit({ name: 'sink.dropped', kind: 'alert', outcome: 'failure', reason: `sink ${sink}: dropped ${count} events (queue full)`, details: { sink, dropped_events: count } }),
    );
    this.deadLetters = new Throttle(intervalMs, (count, status) =>
      this.emit({
        name: 'sink.dead_letter',
        kind: 'alert',
        outcome: 'failure',
        reason: `sink ${sink}: the collector rejected ${count} event(s) for good (${status}); kept in ${this.deadLetterFile}`,
        details: { sink, dead_letter_events: count, file: this.deadLetterFile, status },
      }),
    );
    this.deadLettersLost = new Throttle(intervalMs, (count, status) =>
      this.emit({
        name: 'sink.dead_letter',
        kind: 'alert',
        outcome: 'failure',
        reason: `sink ${sink}: the collector rejected ${count} event(s) for good (${status}) and the dead-letter file is full: lost`,
        details: { sink, lost_events: count, file: this.deadLetterFile, status },
      }),
    );
  }

  /** A delivery failure; `message` must hold no secret (callers pass status codes and error codes). */
  error(message: string): void {
    if (!this.closed) this.errors.add(1, message);
  }

  /** Events this sink had to leave out because its queue was full. */
  droppedEvents(count: number): void {
    if (!this.closed && count > 0) this.drops.add(count, '');
  }

  /** An event the collector rejected for good was set aside (`kept`) or, the dead-letter file being full, lost. */
  deadLettered(status: string, kept: boolean): void {
    if (!this.closed) (kept ? this.deadLetters : this.deadLettersLost).add(1, status);
  }

  /** The durable spool hit its bound and discarded its oldest undelivered events: never silent. */
  spoolOverflow(details: { dropped_events: number; dropped_bytes: number; max_bytes: number }): void {
    if (this.closed) return;
    const sink = this.sink;
    setImmediate(() =>
      this.emit({ name: 'sink.spool_overflow', kind: 'alert', outcome: 'failure', reason: `sink ${sink}: spool full, dropped the ${details.dropped_events} oldest undelivered events`, details: { sink, ...details } }),
    );
  }

  /** Reports what is still counted, synchronously, then stays silent (the sink is stopping). */
  close(): void {
    if (this.closed) return;
    this.errors.stop();
    this.drops.stop();
    this.deadLetters.stop();
    this.deadLettersLost.stop();
    this.drops.flush();
    this.deadLetters.flush();
    this.deadLettersLost.flush();
    this.errors.flush();
    this.closed = true;
  }
}
