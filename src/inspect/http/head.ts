/**
 * Parsing of one complete HTTP/1.x message head (start line + header fields, RFC 9112 §3–5). Finding
 * where a head ends in a byte stream is the job of `message-stream.ts`; this module only turns the
 * head text into facts, or says why it is not HTTP.
 */
import type { HttpFacts } from '../types.js';

export const MAX_HEAD_BYTES = 64 * 1024;

export interface HttpResponseHead {
  /** "1.1" or "1.0". */
  version: string;
  status: number;
  reason: string;
  /** Header names lower-cased, repeated names joined with ", ". */
  headers: Record<string, string>;
}

export type HeadResult<T> = { ok: true; head: T } | { ok: false; reason: string };

const TOKEN = "[!#$%&'*+\\-.^_`|~0-9A-Za-z]+";
/** The method rule matches METHOD_PREFIX below, so whole and byte-by-byte input agree. */
const REQUEST_LINE = /^([A-Z][A-Z_-]*) (\S+) HTTP\/(1\.[01])$/;
const STATUS_LINE = /^HTTP\/(1\.[01]) (\d{3})(?: (.*))?$/;
const HEADER_LINE = new RegExp(`^(${TOKEN}):[ \\t]*(.*?)[ \\t]*$`);
/** Longest method token accepted while checking the first bytes (the longest standard one is 7). */
const MAX_METHOD_LENGTH = 20;
/**
 * Methods are case-sensitive tokens and every method in use is upper-case (GET, M-SEARCH,
 * VERSION-CONTROL…). Requiring that while the first bytes arrive lets an unknown protocol whose first
 * message is short (`ping 1`) be told apart at once instead of after the peek timer.
 */
const METHOD_PREFIX = /^[A-Z][A-Z_-]*$/;

/**
 * Whether the first bytes of a head can still become a valid start line; lets a caller reject a
 * non-HTTP stream after a few bytes instead of buffering 64 KiB first.
 */
export function isPlausibleStartLine(prefix: string, kind: 'request' | 'response'): boolean {
  if (kind === 'response') return prefix.length >= 5 ? prefix.startsWith('HTTP/') : 'HTTP/'.startsWith(prefix);
  const space = prefix.indexOf(' ');
  const method = space < 0 ? prefix : prefix.slice(0, space);
  return space !== 0 && method.length <= MAX_METHOD_LENGTH && (method === '' || METHOD_PREFIX.test(method));
}

/** A complete start line (without its line ending) of the given kind. */
export function isValidStartLine(line: string, kind: 'request' | 'response'): boolean {
  return (kind === 'request' ? REQUEST_LINE : STATUS_LINE).test(line);
}

function parseHeaderLines(lines: string[]): HeadResult<Record<string, string>> {
  const headers = new Map<string, string>();
  let previous: string | undefined;
  for (const line of lines) {
    if ((line.startsWith(' ') || line.startsWith('\t')) && previous !== undefined) {
      // Obsolete line folding (RFC 9112 §5.2): the continuation joins the previous value.
      headers.set(previous, `${headers.get(previous) ?? ''} ${line.trim()}`);
      continue;
    }
    const match = HEADER_LINE.exec(line);
    if (match === null) return { ok: false, reason: 'malformed header line' };
    const name = (match[1] ?? '').toLowerCase();
    const value = match[2] ?? '';
    const earlier = headers.get(name);
    headers.set(name, earlier === undefined ? value : `${earlier}, ${value}`);
    previous = name;
  }
  return { ok: true, head: Object.fromEntries(headers) };
}

/** Splits a head (bytes decoded as latin1, blank line included or not) into its non-empty lines. */
function headLines(text: string): string[] {
  return text.split(/\r?\n/).filter((line) => line !== '');
}

export function parseRequestHead(text: string): HeadResult<HttpFacts> {
  const [startLine = '', ...fieldLines] = headLines(text);
  const start = REQUEST_LINE.exec(startLine);
  if (start === null) return { ok: false, reason: 'not an HTTP/1.x request line' };
  const parsed = parseHeaderLines(fieldLines);
  if (!parsed.ok) return parsed;
  const headers = parsed.head;
  const connectionTokens = (headers['connection'] ?? '').toLowerCase().split(',').map((token) => token.trim());
  const upgrade = connectionTokens.includes('upgrade') ? headers['upgrade']?.toLowerCase() : undefined;
  return {
    ok: true,
    head: {
      method: start[1] ?? '',
      target: start[2] ?? '',
      version: start[3] ?? '',
      headers,
      ...(headers['host'] !== undefined ? { host: headers['host'] } : {}),
      ...(headers['user-agent'] !== undefined ? { userAgent: headers['user-agent'] } : {}),
      ...(upgrade !== undefined ? { upgrade } : {}),
    },
  };
}

export function parseResponseHead(text: string): HeadResult<HttpResponseHead> {
  const [startLine = '', ...fieldLines] = headLines(text);
  const start = STATUS_LINE.exec(startLine);
  if (start === null) return { ok: false, reason: 'not an HTTP/1.x status line' };
  const parsed = parseHeaderLines(fieldLines);
  if (!parsed.ok) return parsed;
  return { ok: true, head: { version: start[1] ?? '', status: Number(start[2]), reason: start[3] ?? '', headers: parsed.head } };
}
