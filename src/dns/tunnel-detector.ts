/**
 * DNS tunnelling detection (iodine, dnscat2, dns2tcp, exfiltration through lookups): a pure, stateful
 * detector fed one query at a time, testable without sockets.
 *
 * Tunnels carry data in the query name under a domain they control, and get data back in TXT, NULL,
 * CNAME or MX answers. Their signs, per agent and parent domain, over a sliding window (the counts of
 * the current window plus the previous one's, weighted by how much of it still overlaps the last
 * `windowMs`: a tumbling window let a tunnel send 29 names at the end of one window and 29 at the start
 * of the next, never reaching 30 in either):
 *
 *  - payload: one name carrying ≥ 60 characters of encoded-looking labels (label-shape.ts) is medium
 *    on its own (iodine fills labels to 63 characters; dnscat2 sends long hex);
 *  - burst: ≥ 30 unique names in the window, at least half of them encoded-looking: high;
 *  - volume: ≥ 200 unique names in the window, whatever they look like: medium;
 *  - channel: ≥ 10 TXT / NULL queries for unique names, most of the parent's queries, with encoded
 *    names: high;
 *  - slow drip: a tunnel that stays under the window's thresholds (say 20 names a minute) for long. The
 *    encoded-looking unique names are also counted with exponential decay (half-life
 *    `slowHalfLifeMs`, 10 minutes): a steady r names per minute settles at r × 14.4, so ≥ 150 means
 *    about 10 encoded names a minute, sustained for many minutes, under one parent: medium.
 *
 * A flagged parent stays flagged while queries for it keep coming (each extends it by a window), so a
 * denial holds for the whole tunnel, not just the query that tripped it; only the first finding per
 * flagging is marked `first` (one event, not one per query).
 *
 * Memory is bounded: at most `maxParents` (agent, parent) entries (least recently used go first) and at
 * most `maxNamesPerParent` name hashes per window, two windows each (counts saturate there, above every
 * window threshold).
 */
import { LRUCache } from 'lru-cache';
import { labelShape, parentDomain } from './label-shape.js';

export interface TunnelDetectorOptions {
  windowMs: number;
  maxParents: number;
  maxNamesPerParent: number;
  /** Half-life of the slow-drip count of encoded-looking names (default 10 minutes). */
  slowHalfLifeMs?: number;
}

export const DEFAULT_TUNNEL_DETECTOR_OPTIONS: TunnelDetectorOptions = { windowMs: 60_000, maxParents: 4096, maxNamesPerParent: 512 };
const DEFAULT_SLOW_HALF_LIFE_MS = 600_000;

export const THRESHOLDS = {
  payloadChars: 60,
  burstNames: 30,
  burstEncodedShare: 0.5,
  volumeNames: 200,
  channelQueries: 10,
  slowEncodedNames: 150,
} as const;

export interface DnsObservation {
  agent: string;
  /** The queried name, lower-case, without the trailing dot. */
  name: string;
  type: string;
  atMs: number;
}

export interface TunnelFinding {
  parent: string;
  confidence: 'medium' | 'high';
  evidence: string;
  /** The first finding of this flagging: the one to report. */
  first: boolean;
}

/** What one window (aligned to multiples of windowMs) saw for an (agent, parent). */
interface WindowCounts {
  index: number;
  names: Set<number>;
  encodedNames: number;
  channelNames: number;
  queries: number;
  channelQueries: number;
}

interface ParentState {
  current: WindowCounts;
  /** The window before the current one, when it was the one just before. */
  previous: WindowCounts | undefined;
  /** Encoded-looking unique names, decayed to `slowAtMs`. */
  slowScore: number;
  slowAtMs: number;
  example: string | undefined;
  flaggedUntil: number;
  finding: Omit<TunnelFinding, 'first'> | undefined;
}

/** The sliding-window estimate: the current window's counts plus the overlapping part of the previous. */
interface Counts {
  unique: number;
  encodedNames: number;
  channelNames: number;
  queries: number;
  channelQueries: number;
}

const CHANNEL_TYPES = new Set(['TXT', 'NULL']);

export class DnsTunnelDetector {
  private readonly parents: LRUCache<string, ParentState>;

  private readonly slowHalfLifeMs: number;

  constructor(private readonly options: TunnelDetectorOptions = DEFAULT_TUNNEL_DETECTOR_OPTIONS) {
    this.parents = new LRUCache({ max: options.maxParents });
    this.slowHalfLifeMs = options.slowHalfLifeMs ?? DEFAULT_SLOW_HALF_LIFE_MS;
  }

  observe(query: DnsObservation): TunnelFinding | undefined {
    const parent = parentDomain(query.name);
    const key = `${query.agent}\u0000${parent}`;
    const state = this.stateFor(key, query.atMs);

    if (state.finding !== undefined && query.atMs < state.flaggedUntil) {
      state.flaggedUntil = query.atMs + this.options.windowMs;
      return { ...state.finding, first: false };
    }
    state.finding = undefined;

    const payload = encodedPayload(query.name, parent);
    const hash = fnv1a(query.name);
    const window = state.current;
    const seen = window.names.has(hash) || state.previous?.names.has(hash) === true;
    const isNew = !seen && window.names.size < this.options.maxNamesPerParent;
    const channel = CHANNEL_TYPES.has(query.type);
    window.queries += 1;
    if (channel) window.channelQueries += 1;
    if (isNew) {
      window.names.add(hash);
      if (payload.encoded) window.encodedNames += 1;
      if (channel) window.channelNames += 1;
      if (payload.encoded && (state.example === undefined || payload.chars > state.example.length)) state.example = payload.example;
    }
    // The slow count sees every new encoded name, including past the per-window saturation.
    if (!seen && payload.encoded) {
      state.slowScore = decayed(state.slowScore, query.atMs - state.slowAtMs, this.slowHalfLifeMs) + 1;
      state.slowAtMs = query.atMs;
    }

    const finding = this.judge(parent, state, this.counts(state, query.atMs), payload);
    if (finding === undefined) return undefined;
    state.finding = finding;
    state.flaggedUntil = query.atMs + this.options.windowMs;
    return { ...finding, first: true };
  }

  /** How many (agent, parent) entries are kept (bounded by `maxParents`). */
  get trackedParents(): number {
    return this.parents.size;
  }

  private counts(state: ParentState, now: number): Counts {
    const { current, previous } = state;
    // How much of the previous window still lies within the last windowMs.
    const overlap = previous === undefined ? 0 : 1 - (now - current.index * this.options.windowMs) / this.options.windowMs;
    const of = (pick: (counts: WindowCounts) => number): number => pick(current) + (previous === undefined ? 0 : pick(previous) * overlap);
    return {
      unique: of((w) => w.names.size),
      encodedNames: of((w) => w.encodedNames),
      channelNames: of((w) => w.channelNames),
      queries: of((w) => w.queries),
      channelQueries: of((w) => w.channelQueries),
    };
  }

  private judge(parent: string, state: ParentState, counts: Counts, payload: EncodedPayload): Omit<TunnelFinding, 'first'> | undefined {
    const unique = Math.round(counts.unique);
    const encoded = Math.round(counts.encodedNames);
    const seconds = Math.round(this.options.windowMs / 1000);
    const sample = state.example === undefined ? '' : `; e.g. "${truncate(state.example)}"`;
    const encodedShare = counts.unique === 0 ? 0 : counts.encodedNames / counts.unique;
    if (counts.channelNames >= THRESHOLDS.channelQueries && counts.channelQueries * 2 > counts.queries && encodedShare >= THRESHOLDS.burstEncodedShare) {
      return { parent, confidence: 'high', evidence: `${Math.round(counts.channelNames)} TXT/NULL queries for unique encoded-looking names under ${parent} within ${seconds} s (${Math.round(counts.queries)} queries in all)${sample}` };
    }
    if (counts.unique >= THRESHOLDS.burstNames && encodedShare >= THRESHOLDS.burstEncodedShare) {
      return { parent, confidence: 'high', evidence: `${unique} unique names under ${parent} within ${seconds} s, ${encoded} of them encoded-looking${sample}` };
    }
    if (payload.chars >= THRESHOLDS.payloadChars) {
      return { parent, confidence: 'medium', evidence: `a name under ${parent} carries ${payload.chars} characters of encoded-looking labels (entropy up to ${payload.maxEntropy.toFixed(2)} bits/char): "${truncate(payload.example)}"` };
    }
    if (counts.unique >= THRESHOLDS.volumeNames) {
      return { parent, confidence: 'medium', evidence: `${unique} unique names under ${parent} within ${seconds} s${sample}` };
    }
    if (state.slowScore >= THRESHOLDS.slowEncodedNames) {
      const minutes = Math.round(this.slowHalfLifeMs / 60_000);
      return { parent, confidence: 'medium', evidence: `a slow drip: about ${Math.round(state.slowScore)} encoded-looking unique names under ${parent}, counted with a ${minutes}-minute half-life${sample}` };
    }
    return undefined;
  }

  private stateFor(key: string, now: number): ParentState {
    const index = Math.floor(now / this.options.windowMs);
    let state = this.parents.get(key);
    if (state === undefined) {
      state = { current: freshWindow(index), previous: undefined, slowScore: 0, slowAtMs: now, example: undefined, flaggedUntil: 0, finding: undefined };
      this.parents.set(key, state);
    } else if (index > state.current.index) {
      // A new window; the one before it is kept for the sliding estimate, older ones are forgotten.
      state.previous = index === state.current.index + 1 ? state.current : undefined;
      state.current = freshWindow(index);
    }
    return state;
  }
}

interface EncodedPayload {
  encoded: boolean;
  chars: number;
  maxEntropy: number;
  example: string;
}

/** The encoded-looking labels of the part of `name` below its parent domain. */
function encodedPayload(name: string, parent: string): EncodedPayload {
  const below = name.length > parent.length ? name.slice(0, name.length - parent.length - 1) : '';
  let chars = 0;
  let maxEntropy = 0;
  for (const label of below.split('.')) {
    const shape = labelShape(label);
    if (!shape.encoded) continue;
    chars += shape.length;
    maxEntropy = Math.max(maxEntropy, shape.entropy);
  }
  return { encoded: chars > 0, chars, maxEntropy, example: below };
}

function freshWindow(index: number): WindowCounts {
  return { index, names: new Set(), encodedNames: 0, channelNames: 0, queries: 0, channelQueries: 0 };
}

function decayed(score: number, elapsedMs: number, halfLifeMs: number): number {
  return score * 2 ** (-Math.max(0, elapsedMs) / halfLifeMs);
}

function truncate(text: string): string {
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/** 32-bit FNV-1a: names are remembered as hashes, 8 bytes each instead of up to 255. */
function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i += 1) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}
