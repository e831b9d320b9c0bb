import { AGENT_NAME_PATTERN } from '../config/schema.js';
import { formatAddress, parseIpLiteral } from '../net/address.js';
import { normaliseHostname } from '../net/hostname.js';

/**
 * Reads event logs as the proxy writes them (one JSON object per line, pino's `log.level` and any
 * other extra field tolerated) and keeps what `chokepoint suggest` needs. Lines that are not JSON
 * objects are counted, not fatal: a log cut mid-line by a crash must still be usable.
 *
 * A log is untrusted input (it may have been edited, or written by something else): what ends up in a
 * suggested rule, a file path or an output line is validated here exactly as the proxy validates it —
 * agent names as the rules loader does, names normalised (an IP literal in `destination.domain` is an
 * address, checked for special ranges like any other), addresses parsed, ports 1–65535. An event
 * whose agent, name, address or port fails is an unreadable line, never a rule.
 */

/** Event names, rule ids, detection kinds: what the report prints, one line each (rule ids' own charset). */
const IDENTIFIER = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

export interface SeenEvent {
  action: string;
  agent: string;
  ruleId?: string;
  /** Requested name, when the flow asked for one. */
  domain?: string;
  /** The address asked for (IP literal) or dialled. */
  ip?: string;
  port: number;
  resolved: string[];
  /** `chokepoint.detection.kind` of a detection event. */
  detectionKind?: string;
}

export interface ReadResult {
  events: SeenEvent[];
  badLines: number;
}

/** No event the proxy writes comes near this; a longer line is damage or hostile, skipped unread. */
export const MAX_EVENT_LINE_BYTES = 1024 * 1024;

export function readEventLines(text: string, into: ReadResult): void {
  for (const line of text.split('\n')) readEventLine(line, into);
}

/**
 * Reads a log of any size as it streams: memory is one line at most, and a line longer than
 * `MAX_EVENT_LINE_BYTES` is counted as unreadable and skipped without being held.
 */
export async function readEventStream(chunks: AsyncIterable<Buffer | string>, into: ReadResult, maxLineBytes = MAX_EVENT_LINE_BYTES): Promise<void> {
  let parts: Buffer[] = [];
  let held = 0;
  let skipping = false;
  const take = (piece: Buffer): void => {
    if (skipping) return;
    if (held + piece.length > maxLineBytes) {
      skipping = true;
      parts = [];
      held = 0;
      into.badLines += 1;
      return;
    }
    parts.push(piece);
    held += piece.length;
  };
  for await (const chunk of chunks) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    let start = 0;
    for (let end = buffer.indexOf(0x0a); end !== -1; end = buffer.indexOf(0x0a, start)) {
      take(buffer.subarray(start, end));
      if (!skipping) readEventLine(Buffer.concat(parts).toString('utf8'), into);
      parts = [];
      held = 0;
      skipping = false;
      start = end + 1;
    }
    take(buffer.subarray(start));
  }
  if (!skipping && held > 0) readEventLine(Buffer.concat(parts).toString('utf8'), into);
}

function readEventLine(line: string, into: ReadResult): void {
  if (line.trim() === '') return;
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    into.badLines += 1;
    return;
  }
  if (!isRecord(parsed)) {
    into.badLines += 1;
    return;
  }
  const event = toSeenEvent(parsed);
  if (event === 'not-an-event') into.badLines += 1;
  else if (event) into.events.push(event);
}

/** Undefined for events without an agent and a destination (lifecycle events), which are skipped. */
function toSeenEvent(record: Record<string, unknown>): SeenEvent | undefined | 'not-an-event' {
  const action = field(record, 'event', 'action');
  if (typeof action !== 'string' || !IDENTIFIER.test(action)) return 'not-an-event';
  const agent = field(record, 'chokepoint', 'agent');
  const port = field(record, 'destination', 'port');
  if (agent === undefined || port === undefined) return undefined;
  if (typeof agent !== 'string' || !AGENT_NAME_PATTERN.test(agent) || !isPort(port)) return 'not-an-event';
  const target = destinationOf(field(record, 'destination', 'domain'), field(record, 'destination', 'ip'));
  if (target === 'invalid') return 'not-an-event';
  const { domain, ip } = target;
  const ruleId = field(record, 'rule', 'id');
  const resolved = field(record, 'chokepoint', 'resolved');
  const detection = field(record, 'chokepoint', 'detection');
  const detectionKind = isRecord(detection) && typeof detection.kind === 'string' && IDENTIFIER.test(detection.kind) ? detection.kind : undefined;
  return {
    action,
    agent,
    port,
    ...(typeof domain === 'string' ? { domain } : {}),
    ...(typeof ip === 'string' ? { ip } : {}),
    ...(typeof ruleId === 'string' && IDENTIFIER.test(ruleId) ? { ruleId } : {}),
    resolved: Array.isArray(resolved) ? resolved.filter((item): item is string => typeof item === 'string') : [],
    ...(detectionKind ? { detectionKind } : {}),
  };
}

function isPort(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= 65_535;
}

/** The destination as the proxy would have normalised it: a valid name, or an address in canonical form. */
function destinationOf(domain: unknown, ip: unknown): { domain?: string; ip?: string } | 'invalid' {
  const address = typeof ip === 'string' ? parseIpLiteral(ip) : undefined;
  if (ip !== undefined && !address) return 'invalid';
  const canonicalIp = address ? { ip: formatAddress(address) } : {};
  if (domain === undefined) return canonicalIp;
  if (typeof domain !== 'string') return 'invalid';
  const name = normaliseHostname(domain);
  if ('error' in name) return 'invalid';
  // An IP literal asked for by name is an address: it gets the special-range check, never a host rule.
  if ('ip' in name) return { ip: formatAddress(name.ip) };
  return { domain: name.host, ...canonicalIp };
}

function field(record: Record<string, unknown>, outer: string, inner: string): unknown {
  const value = record[outer];
  return isRecord(value) ? value[inner] : undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
