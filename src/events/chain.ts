import crypto, { createHash, randomBytes } from 'node:crypto';
import { canonicalJson } from './canonical-json.js';
import type { ChokepointEvent } from './types.js';

/**
 * The hash chain that makes an event log tamper-evident. Every event carries
 * `chokepoint.chain {prev, hash}`: `hash` is SHA-256 (hex) over the canonical JSON of the event
 * without `hash` (`prev` included), and `prev` is the previous event's `hash`. The first event of a
 * process chains from a random nonce and says so with `start: true` — a SIEM or `chokepoint
 * verify-log` then knows a restart from a deletion: a new chain may only begin at `proxy.started`.
 */

export interface ChainFields {
  prev: string;
  hash: string;
  /** Present (true) on the first event of a process; `prev` is then that process's random nonce. */
  start?: true;
}

/**
 * Top-level members of the event record itself. Anything else on a line (pino's `log.level`, a
 * shipper's `host.name`) was added by a sink and is outside the hash — for the proxy and the verifier alike.
 */
export const EVENT_TOP_LEVEL_KEYS: ReadonlySet<string> = new Set([
  '@timestamp',
  'ecs',
  'event',
  'chokepoint',
  'rule',
  'labels',
  'source',
  'destination',
  'network',
  'dns',
  'url',
  'error',
]);

export class HashChain {
  private previous: string;
  private started = false;

  constructor(nonce: string = randomBytes(32).toString('hex')) {
    this.previous = nonce;
  }

  /** Sets `chokepoint.chain` on `event` (which must not carry one yet) and advances the chain. */
  link(event: ChokepointEvent): void {
    const prev = this.previous;
    const start = !this.started;
    this.started = true;
    event.chokepoint = withChain(event.chokepoint, start ? { prev, start: true } : { prev });
    const covered = eventMembers(event);
    const hashed = canonicalJson(covered);
    const hash = sha256Hex(hashed);
    // Set after hashing: the hash covers the event with `prev` (and `start`) but without itself. A new
    // object rather than a member added last keeps the keys sorted for later serialisations.
    event.chokepoint.chain = start ? { hash, prev, start: true } : { hash, prev };
    this.previous = hash;
    // The hashed text is the event's JSON only when the event has no member outside the hash.
    lastHashed = covered === event ? { event, text: hashed, prev, hash } : undefined;
  }
}

/**
 * `chokepoint` with `chain` among its members where it sorts, so that an event shaped with sorted keys
 * (src/events/bus.ts) stays sorted and its canonical JSON is a plain JSON.stringify.
 */
function withChain(chokepoint: ChokepointEvent['chokepoint'], chain: Omit<ChainFields, 'hash'>): ChokepointEvent['chokepoint'] {
  const members: Record<string, unknown> = {};
  let placed = false;
  for (const [key, value] of Object.entries(chokepoint)) {
    if (key === 'chain') continue;
    if (!placed && key > 'chain') {
      members['chain'] = chain;
      placed = true;
    }
    members[key] = value;
  }
  if (!placed) members['chain'] = chain;
  return members as ChokepointEvent['chokepoint'];
}

/**
 * The members the hash covers: the record itself when all its top-level members are event members
 * (always, for what the bus builds), else a copy without the others. Proxy and verifier both hash
 * through here, so a member outside the list can never make an intact event look edited.
 */
function eventMembers<T extends object>(record: T): T | Record<string, unknown> {
  const keys = Object.keys(record);
  if (keys.every((key) => EVENT_TOP_LEVEL_KEYS.has(key))) return record;
  const own: Record<string, unknown> = {};
  for (const key of keys) if (EVENT_TOP_LEVEL_KEYS.has(key)) own[key] = (record as Record<string, unknown>)[key];
  return own;
}

/**
 * The text the chain hashed last, so that a sink can reuse it instead of serialising again. One slot,
 * not a map per event: sinks are called synchronously right after the event is linked, and a WeakMap
 * of every event measurably slowed garbage collection on the bus (bench/event-chain.ts).
 */
let lastHashed: { event: ChokepointEvent; text: string; prev: string; hash: string } | undefined;

/**
 * The event as canonical JSON (one line, no newline). For the event just emitted it is built from
 * the text the chain hashed, with the hash put in: sorted, `hash` comes first in `chain`, and the
 * exact `prev` value makes the match the chain object itself, never text inside a string. Sinks can write this (from `write`) instead of
 * serialising the event again; any other event is serialised here.
 */
export function eventJson(event: ChokepointEvent): string {
  const hashed = lastHashed;
  if (hashed?.event !== event || event.chokepoint.chain?.hash !== hashed.hash) return canonicalJson(event);
  return hashed.text.replace(`"chain":{"prev":"${hashed.prev}"`, `"chain":{"hash":"${hashed.hash}","prev":"${hashed.prev}"`);
}

/** The hash an event should carry, recomputed from what it says (non-event members ignored). */
export function expectedHash(record: Record<string, unknown>): string | undefined {
  const chokepoint = record['chokepoint'];
  if (!isRecord(chokepoint) || !isRecord(chokepoint['chain'])) return undefined;
  const { hash: _ignored, ...chainWithoutHash } = chokepoint['chain'];
  return sha256Hex(canonicalJson({ ...eventMembers(record), chokepoint: { ...chokepoint, chain: chainWithoutHash } }));
}

/** crypto.hash (Node ≥ 20.12) hashes in one call, without a Hash object per event; older 20.x take the long way. */
const oneShotHash: ((algorithm: string, data: string, encoding: 'hex') => string) | undefined =
  typeof crypto.hash === 'function' ? crypto.hash : undefined;

function sha256Hex(text: string): string {
  return oneShotHash ? oneShotHash('sha256', text, 'hex') : createHash('sha256').update(text).digest('hex');
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
