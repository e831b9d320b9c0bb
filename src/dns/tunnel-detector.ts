/**
 * DNS tunnelling detection (iodine, dnscat2, dns2tcp, exfiltration through lookups): a pure, stateful
 * detector fed one query at a time, testable without sockets.
 *
 * Tunnels carry data in the query name under a domain they control, and get data back in TXT, NULL,
 * CNAME or MX answers. Their signs, per agent and parent domain, over a tumbling window:
 *
 *  - payload: one name carrying ≥ 60 characters of encoded-looking labels (label-shape.ts) is medium
 *    on its own (iodine fills labels to 63 characters; dnscat2 sends long hex);
 *  - burst: ≥ 30 unique names in the window, at least half of them encoded-looking: high;
 *  - volume: ≥ 200 unique names in the window, whatever they look like: medium;
 *  - channel: ≥ 10 TXT / NULL queries for unique names, most of the parent's queries, with encoded
 *    names: high.
 *
 * A flagged parent stays flagged while queries for it keep coming (each extends it by a window), so a
 * denial holds for the whole tunnel, not just the query that tripped it; only the first finding per
 * flagging is marked `first` (one event, not one per query).
 *
 * Memory is bounded: at most `maxParents` (agent, parent) entries (least recently used go first) and at
 * most `maxNamesPerParent` name hashes each (counts saturate there, above every threshold).
 */
import { LRUCache } from 'lru-cache';
import { labelShape, parentDomain } from './label-shape.js';

export interface TunnelDetectorOptions {
  windowMs: number;
  maxParents: number;
  maxNamesPerParent: number;
}

export const DEFAULT_TUNNEL_DETECTOR_OPTIONS: TunnelDetectorOptions = { windowMs: 60_000, maxParents: 4096, maxNamesPerParent: 512 };

export const THRESHOLDS = {
  payloadChars: 60,
  burstNames: 30,
  burstEncodedShare: 0.5,
  volumeNames: 200,
  channelQueries: 10,
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

interface ParentState {
  windowStart: number;
  names: Set<number>;
  encodedNames: number;
  channelNames: number;
  queries: number;
  channelQueries: number;
  example: string | undefined;
  flaggedUntil: number;
  finding: Omit<TunnelFinding, 'first'> | undefined;
}

const CHANNEL_TYPES = new Set(['TXT', 'NULL']);

export class DnsTunnelDetector {
  private readonly parents: LRUCache<string, ParentState>;

  constructor(private readonly options: TunnelDetectorOptions = DEFAULT_TUNNEL_DETECTOR_OPTIONS) {
    this.parents = new LRUCache({ max: options.maxParents });
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
    const isNew = !state.names.has(hash) && state.names.size < this.options.maxNamesPerParent;
    const channel = CHANNEL_TYPES.has(query.type);
    state.queries += 1;
    if (channel) state.channelQueries += 1;
    if (isNew) {
      state.names.add(hash);
      if (payload.encoded) state.encodedNames += 1;
      if (channel) state.channelNames += 1;
      if (payload.encoded && (state.example === undefined || payload.chars > state.example.length)) state.example = payload.example;
    }

    const finding = this.judge(parent, state, payload);
    if (finding === undefined) return undefined;
    state.finding = finding;
    state.flaggedUntil = query.atMs + this.options.windowMs;
    return { ...finding, first: true };
  }

  /** How many (agent, parent) entries are kept (bounded by `maxParents`). */
  get trackedParents(): number {
    return this.parents.size;
  }

  private judge(parent: string, state: ParentState, payload: EncodedPayload): Omit<TunnelFinding, 'first'> | undefined {
    const unique = state.names.size;
    const seconds = Math.round(this.options.windowMs / 1000);
    const sample = state.example === undefined ? '' : `; e.g. "${truncate(state.example)}"`;
    const encodedShare = unique === 0 ? 0 : state.encodedNames / unique;
    if (state.channelNames >= THRESHOLDS.channelQueries && state.channelQueries * 2 > state.queries && encodedShare >= THRESHOLDS.burstEncodedShare) {
      return { parent, confidence: 'high', evidence: `${state.channelNames} TXT/NULL queries for unique encoded-looking names under ${parent} within ${seconds} s (${state.queries} queries in all)${sample}` };
    }
    if (unique >= THRESHOLDS.burstNames && encodedShare >= THRESHOLDS.burstEncodedShare) {
      return { parent, confidence: 'high', evidence: `${unique} unique names under ${parent} within ${seconds} s, ${state.encodedNames} of them encoded-looking${sample}` };
    }
    if (payload.chars >= THRESHOLDS.payloadChars) {
      return { parent, confidence: 'medium', evidence: `a name under ${parent} carries ${payload.chars} characters of encoded-looking labels (entropy up to ${payload.maxEntropy.toFixed(2)} bits/char): "${truncate(payload.example)}"` };
    }
    if (unique >= THRESHOLDS.volumeNames) {
      return { parent, confidence: 'medium', evidence: `${unique} unique names under ${parent} within ${seconds} s${sample}` };
    }
    return undefined;
  }

  private stateFor(key: string, now: number): ParentState {
    let state = this.parents.get(key);
    if (state === undefined) {
      state = fresh(now);
      this.parents.set(key, state);
    } else if (now - state.windowStart >= this.options.windowMs) {
      // A new window; a flagging outlives it only while the tunnel keeps querying (checked by the caller).
      const { finding, flaggedUntil } = state;
      Object.assign(state, fresh(now), { finding, flaggedUntil });
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

function fresh(now: number): ParentState {
  return { windowStart: now, names: new Set(), encodedNames: 0, channelNames: 0, queries: 0, channelQueries: 0, example: undefined, flaggedUntil: 0, finding: undefined };
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
