/**
 * Reports a repeated condition without one event per occurrence: a flood is what causes the occurrences
 * (queries refused for overload, garbage from spoofable sources), and an event per occurrence would carry
 * the flood into the event log and the SIEM. The first occurrence of a key is reported at once
 * (count 1); the ones after it are counted and reported together, once per interval, for as long as they
 * keep coming. Keys must come from a bounded set (agent names, a few constants).
 */
interface Pending<T> {
  latest: T;
  count: number;
}

export class CountedReporter<T> {
  private readonly pending = new Map<string, Pending<T>>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    readonly intervalMs: number,
    private readonly report: (latest: T, count: number) => void,
  ) {}

  note(key: string, item: T): void {
    const counted = this.pending.get(key);
    if (counted !== undefined) {
      counted.count += 1;
      counted.latest = item;
      return;
    }
    this.report(item, 1);
    // From now on this key's occurrences are counted until an interval passes with none.
    this.pending.set(key, { latest: item, count: 0 });
    this.arm();
  }

  private arm(): void {
    if (this.timer !== undefined) return;
    this.timer = setTimeout(() => this.flush(), this.intervalMs);
    // Never keeps the process alive on its own.
    this.timer.unref();
  }

  private flush(): void {
    this.timer = undefined;
    for (const [key, counted] of this.pending) {
      if (counted.count === 0) {
        this.pending.delete(key);
        continue;
      }
      this.report(counted.latest, counted.count);
      counted.count = 0;
    }
    if (this.pending.size > 0) this.arm();
  }
}
