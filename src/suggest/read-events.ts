/**
 * Reads event logs as the proxy writes them (one JSON object per line, pino's `log.level` and any
 * other extra field tolerated) and keeps what `chokepoint suggest` needs. Lines that are not JSON
 * objects are counted, not fatal: a log cut mid-line by a crash must still be usable.
 */

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

export function readEventLines(text: string, into: ReadResult): void {
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      into.badLines += 1;
      continue;
    }
    if (!isRecord(parsed)) {
      into.badLines += 1;
      continue;
    }
    const event = toSeenEvent(parsed);
    if (event === 'not-an-event') into.badLines += 1;
    else if (event) into.events.push(event);
  }
}

/** Undefined for events without an agent and a destination (lifecycle events), which are skipped. */
function toSeenEvent(record: Record<string, unknown>): SeenEvent | undefined | 'not-an-event' {
  const action = field(record, 'event', 'action');
  if (typeof action !== 'string') return 'not-an-event';
  const agent = field(record, 'chokepoint', 'agent');
  const port = field(record, 'destination', 'port');
  if (typeof agent !== 'string' || typeof port !== 'number') return undefined;
  const domain = field(record, 'destination', 'domain');
  const ip = field(record, 'destination', 'ip');
  const ruleId = field(record, 'rule', 'id');
  const resolved = field(record, 'chokepoint', 'resolved');
  const detection = field(record, 'chokepoint', 'detection');
  const detectionKind = isRecord(detection) && typeof detection.kind === 'string' ? detection.kind : undefined;
  return {
    action,
    agent,
    port,
    ...(typeof domain === 'string' ? { domain } : {}),
    ...(typeof ip === 'string' ? { ip } : {}),
    ...(typeof ruleId === 'string' ? { ruleId } : {}),
    resolved: Array.isArray(resolved) ? resolved.filter((item): item is string => typeof item === 'string') : [],
    ...(detectionKind ? { detectionKind } : {}),
  };
}

function field(record: Record<string, unknown>, outer: string, inner: string): unknown {
  const value = record[outer];
  return isRecord(value) ? value[inner] : undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
