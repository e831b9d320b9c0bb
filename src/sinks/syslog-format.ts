import os from 'node:os';
import type { ChokepointEvent } from '../events/types.js';
import type { Severity } from './severity.js';

/**
 * RFC 5424 syslog messages. The MSG part is the JSON event (one line); a structured-data element
 * carries a few keys a syslog server can index without parsing the JSON. Framing for stream
 * transports (RFC 6587 octet counting) is `frameOctetCounted`.
 */

/** Private enterprise number used in the SD-ID. 32473 is IANA's number reserved for documentation. */
export const SD_ID = 'chokepoint@32473';

/** RFC 5424 severity codes (6.2.1): Chokepoint severities mapped onto the syslog ladder. */
const SYSLOG_SEVERITY: Record<Severity, number> = { info: 6, low: 5, medium: 4, high: 3, critical: 2 };

export interface SyslogHeader {
  facility: number;
  appName: string;
  hostname?: string;
  procId?: string;
}

export function formatSyslog(event: ChokepointEvent, severity: Severity, json: string, header: SyslogHeader): string {
  const pri = header.facility * 8 + SYSLOG_SEVERITY[severity];
  const hostname = headerField(header.hostname ?? os.hostname(), 255);
  const procId = headerField(header.procId ?? String(process.pid), 128);
  const msgId = headerField(event.event.action, 32);
  return `<${pri}>1 ${event['@timestamp']} ${hostname} ${header.appName} ${procId} ${msgId} ${structuredData(event)} ${json}`;
}

/** `LEN SP MSG`, LEN in octets (RFC 6587 3.4.1), for TCP and TLS (RFC 5425 4.3). */
export function frameOctetCounted(message: string): string {
  return `${Buffer.byteLength(message)} ${message}`;
}

function structuredData(event: ChokepointEvent): string {
  const params: Array<[string, string | number | undefined]> = [
    ['seq', event.event.sequence],
    ['kind', event.event.kind],
    ['agent', event.chokepoint.agent],
    ['flow', event.chokepoint.flow_id],
    ['action', event.chokepoint.action],
    ['rule', event.rule?.id],
    ['detection', event.chokepoint.detection?.kind],
  ];
  const body = params
    .filter((param): param is [string, string | number] => param[1] !== undefined)
    .map(([key, value]) => `${key}="${escapeParamValue(String(value))}"`)
    .join(' ');
  return `[${SD_ID} ${body}]`;
}

/** Inside a PARAM-VALUE, `"`, `\` and `]` are escaped with a backslash (RFC 5424 6.3.3). */
export function escapeParamValue(value: string): string {
  return value.replace(/["\\\]]/g, '\\$&');
}

/** Header fields are printable US-ASCII without spaces, bounded in length; empty is "-" (NILVALUE). */
function headerField(value: string, maxLength: number): string {
  const cleaned = value.replace(/[^!-~]/g, '_').slice(0, maxLength);
  return cleaned === '' ? '-' : cleaned;
}

/**
 * `message` cut to at most `maxBytes` octets, at a character boundary (a multibyte character is never
 * split, so the octet count stays true to valid UTF-8); undefined when it fits as it is.
 */
export function truncateToBytes(message: string, maxBytes: number): string | undefined {
  if (message.length <= maxBytes / 3) return undefined; // at most 3 octets per UTF-16 unit: fits
  const bytes = Buffer.from(message);
  if (bytes.length <= maxBytes) return undefined;
  let end = maxBytes;
  // bytes[end] is the first octet left out: a continuation octet means a character straddles the cut.
  while (end > 0 && ((bytes[end] ?? 0) & 0xc0) === 0x80) end -= 1;
  return bytes.toString('utf8', 0, end);
}
