/**
 * One fixed window of a budget: it opens at the first use after the previous one closed and lasts
 * `windowMs`, so "when it resets" is one exact time the agent can be told. Memory per window is a
 * counter, or for destinations a set capped at the budget's limit.
 */
export class UsageWindow {
  private startedAt = 0;
  private endsAt = 0;
  used = 0;
  /** Whether this window's overrun was already reported (once per window, not per byte). */
  reported = false;
  /** Destinations used in this window (new_destinations only); never more than the limit. */
  readonly seen = new Set<string>();

  /** Starts a new window when the current one is over; call before reading or adding. */
  roll(now: number, windowMs: number): void {
    if (now < this.endsAt) return;
    this.startedAt = now;
    this.endsAt = now + windowMs;
    this.used = 0;
    this.reported = false;
    this.seen.clear();
  }

  get resetsAt(): number {
    return this.endsAt;
  }

  get opened(): number {
    return this.startedAt;
  }
}
