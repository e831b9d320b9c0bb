import { expectedHash } from './chain.js';

/**
 * Checks a JSON-lines event log against its hash chain (events/chain.ts), line by line, so that a log
 * of any size streams through it. What it reports, each with the lines involved:
 *
 * - an edited event: its hash does not match its content;
 * - a deletion: sequence numbers missing between two lines (never filled later);
 * - reordering: an event that arrives after a later one of its chain;
 * - an insertion or a replacement: a sequence number seen twice with different content, or an event
 *   whose `prev` is not the hash of the event before it;
 * - a truncation: a chain that ends without `proxy.stopped` and is followed by a new chain, or a line
 *   that is not complete JSON. A new chain is legitimate only at `proxy.started` with sequence 1.
 *
 * Lines of several files (a rotated set, oldest first) are pushed one after another.
 */

export interface LinePosition {
  file: string;
  line: number;
  /** Position in the whole set (all files), so findings print in reading order. */
  index?: number;
}

export interface Finding {
  at: LinePosition;
  message: string;
}

export interface VerifyOptions {
  /** The set may begin mid-chain (older rotated files were deleted): a note instead of a problem. */
  partial?: boolean;
}

export interface VerifyReport {
  problems: Finding[];
  notes: Finding[];
  events: number;
  chains: number;
}

/** How far back out-of-order events are matched against their place; older ones are only "out of order". */
const REORDER_WINDOW = 10_000;

interface Seen {
  hash: string;
  prev: string;
  at: LinePosition;
}

interface Gap {
  from: number;
  to: number;
  after: LinePosition;
  before: LinePosition;
}

interface Chain {
  lastSequence: number;
  lastAction: string;
  lastAt: LinePosition;
  seen: Map<number, Seen>;
  gaps: Gap[];
}

interface ChainedEvent {
  sequence: number;
  action: string;
  hash: string;
  prev: string;
  start: boolean;
  record: Record<string, unknown>;
}

export class LogVerifier {
  private readonly problems: Finding[] = [];
  private readonly notes: Finding[] = [];
  private chain: Chain | undefined;
  private events = 0;
  private chains = 0;
  private lines = 0;

  constructor(private readonly options: VerifyOptions = {}) {}

  push(text: string, line: LinePosition): void {
    const at = { ...line, index: this.lines++ };
    if (text.trim() === '') return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      this.problem(at, 'not complete JSON (a truncated or corrupted line)');
      return;
    }
    const event = chainedEvent(parsed);
    if ('problem' in event) {
      this.problem(at, event.problem);
      // An event without a chain still holds its place: the events around it are not "deleted".
      if (event.sequence !== undefined && this.chain && event.sequence === this.chain.lastSequence + 1) this.holdPlace(this.chain, event.sequence, event.action ?? '', at);
      return;
    }
    this.events++;
    if (expectedHash(event.record) !== event.hash) this.problem(at, `event seq ${event.sequence} (${event.action}) was edited: its content does not match its hash`);
    if (event.start) this.startChain(event, at);
    else if (!this.chain) this.joinMidChain(event, at);
    else this.follow(this.chain, event, at);
  }

  finish(): VerifyReport {
    if (this.chain) {
      this.reportGaps(this.chain);
      if (this.chain.lastAction !== 'proxy.stopped') {
        this.notes.push({ at: this.chain.lastAt, message: `the log ends at seq ${this.chain.lastSequence} without proxy.stopped: the proxy is still running, or the end of the log is missing` });
      }
    }
    const byPosition = (a: Finding, b: Finding): number => (a.at.index ?? 0) - (b.at.index ?? 0);
    return { problems: [...this.problems].sort(byPosition), notes: this.notes, events: this.events, chains: this.chains };
  }

  private startChain(event: ChainedEvent, at: LinePosition): void {
    const previous = this.chain;
    if (previous) {
      this.reportGaps(previous);
      if (previous.lastAction !== 'proxy.stopped') {
        this.problem(previous.lastAt, `the chain ends here (seq ${previous.lastSequence}) without proxy.stopped and a new one starts at ${where(at)}: the log was truncated here, or the proxy died`);
      }
    }
    if (event.action !== 'proxy.started' || event.sequence !== 1) {
      this.problem(at, `a new chain starts at seq ${event.sequence} (${event.action}): only proxy.started with seq 1 may start one (an inserted or forged event)`);
    }
    this.newChain(event, at);
  }

  private joinMidChain(event: ChainedEvent, at: LinePosition): void {
    const text = `the log begins mid-chain at seq ${event.sequence} (${event.action}): the events before it are not in the files given`;
    if (this.options.partial) this.notes.push({ at, message: text });
    else this.problem(at, `${text} (deleted, or older rotated files not given; --partial accepts this)`);
    this.newChain(event, at);
  }

  private newChain(event: ChainedEvent, at: LinePosition): void {
    this.chains++;
    this.chain = { lastSequence: event.sequence, lastAction: event.action, lastAt: at, seen: new Map([[event.sequence, { hash: event.hash, prev: event.prev, at }]]), gaps: [] };
  }

  private follow(chain: Chain, event: ChainedEvent, at: LinePosition): void {
    const sequence = event.sequence;
    const last = chain.lastSequence;
    const earlier = chain.seen.get(sequence);
    if (earlier) {
      this.problem(at, earlier.hash === event.hash
        ? `seq ${sequence} repeats the event at ${where(earlier.at)} (a duplicated line)`
        : `seq ${sequence} was already used at ${where(earlier.at)} by a different event (an inserted event)`);
      return;
    }
    if (sequence === last + 1) {
      this.checkLink(chain, event, at);
    } else if (sequence > last + 1) {
      chain.gaps.push({ from: last + 1, to: sequence - 1, after: chain.lastAt, before: at });
    } else {
      const gapIndex = chain.gaps.findIndex((gap) => gap.from <= sequence && sequence <= gap.to);
      if (gapIndex < 0) {
        this.problem(at, `seq ${sequence} comes after seq ${last} (${where(chain.lastAt)}): out of order`);
      } else {
        const gap = chain.gaps[gapIndex] as Gap;
        this.problem(at, `seq ${sequence} is out of order: it belongs between ${where(gap.after)} and ${where(gap.before)} (reordered lines)`);
        chain.gaps.splice(gapIndex, 1, ...splitGap(gap, sequence));
        this.checkLink(chain, event, at);
      }
      // A late event is also the predecessor of one already read: that one's `prev` must be its hash.
      const next = chain.seen.get(sequence + 1);
      if (next && next.prev !== event.hash) this.problem(next.at, `the chain is broken: prev of seq ${sequence + 1} is not the hash of seq ${sequence} (${where(at)})`);
    }
    chain.seen.set(sequence, { hash: event.hash, prev: event.prev, at });
    chain.seen.delete(sequence - REORDER_WINDOW);
    if (sequence > last) {
      chain.lastSequence = sequence;
      chain.lastAction = event.action;
      chain.lastAt = at;
    }
  }

  private holdPlace(chain: Chain, sequence: number, action: string, at: LinePosition): void {
    chain.seen.set(sequence, { hash: UNVERIFIED, prev: UNVERIFIED, at });
    chain.lastSequence = sequence;
    chain.lastAction = action;
    chain.lastAt = at;
  }

  /** The event before this one (if read) must be the one whose hash this event names as `prev`. */
  private checkLink(chain: Chain, event: ChainedEvent, at: LinePosition): void {
    const before = chain.seen.get(event.sequence - 1);
    if (before && before.hash !== UNVERIFIED && before.hash !== event.prev) {
      this.problem(at, `the chain is broken: prev of seq ${event.sequence} is not the hash of seq ${event.sequence - 1} (${where(before.at)}): an event was replaced, inserted or re-hashed`);
    }
  }

  private reportGaps(chain: Chain): void {
    for (const gap of chain.gaps) {
      const what = gap.from === gap.to ? `seq ${gap.from} is` : `seq ${gap.from}-${gap.to} (${gap.to - gap.from + 1} events) are`;
      this.problem(gap.before, `${what} missing between ${where(gap.after)} and here (deleted events)`);
    }
    chain.gaps = [];
  }

  private problem(at: LinePosition, message: string): void {
    this.problems.push({ at, message });
  }
}

export function where(at: LinePosition): string {
  return `${at.file}:${at.line}`;
}

function splitGap(gap: Gap, sequence: number): Gap[] {
  const parts: Gap[] = [];
  if (gap.from < sequence) parts.push({ ...gap, to: sequence - 1 });
  if (sequence < gap.to) parts.push({ ...gap, from: sequence + 1 });
  return parts;
}

/** Stands for the hash of an event that had none: nothing can be checked against it. */
const UNVERIFIED = '';

type Unchained = { problem: string; sequence?: number; action?: string };

/** The fields the chain check needs, or why the line is not a chained event. */
function chainedEvent(value: unknown): ChainedEvent | Unchained {
  if (!isRecord(value) || !isRecord(value['event'])) return { problem: 'not an event (no event object)' };
  const { action, sequence } = value['event'];
  if (typeof action !== 'string' || typeof sequence !== 'number' || !Number.isSafeInteger(sequence) || sequence < 1) {
    return { problem: 'not an event (no event.action or event.sequence)' };
  }
  const chokepoint = value['chokepoint'];
  const chain = isRecord(chokepoint) ? chokepoint['chain'] : undefined;
  if (!isRecord(chain) || !isSha256Hex(chain['hash']) || !isSha256Hex(chain['prev'])) {
    return { problem: `event seq ${sequence} (${action}) has no chokepoint.chain {prev, hash} (two SHA-256 hex digests): written without the chain, stripped or mangled`, sequence, action };
  }
  return { sequence, action, hash: chain['hash'], prev: chain['prev'], start: chain['start'] === true, record: value };
}

function isSha256Hex(value: unknown): value is string {
  return typeof value === 'string' && /^[0-9a-f]{64}$/.test(value);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
