/**
 * How long a message body is (RFC 9112 §6.3), decided from its head. Requests without Content-Length
 * or chunked coding have no body. Responses to HEAD requests also have none, but a response stream
 * does not see the requests, so it frames them like any other response (a known limitation: the next
 * response may then be read as body).
 */
import type { HttpFacts } from '../types.js';
import type { HttpResponseHead } from './head.js';

export type BodyFraming =
  | { kind: 'none' }
  | { kind: 'length'; bytes: number }
  | { kind: 'chunked' }
  /** The body runs to the end of the connection (responses only). */
  | { kind: 'until-close' }
  /** The connection stops being HTTP after this message (CONNECT request, 101 response). */
  | { kind: 'tunnel' };

export type FramingResult = { ok: true; framing: BodyFraming } | { ok: false; reason: string };

function isChunked(transferEncoding: string): boolean {
  const codings = transferEncoding.toLowerCase().split(',').map((coding) => coding.trim());
  return codings[codings.length - 1] === 'chunked';
}

/** Content-Length, allowing the repeated identical values some clients send ("5, 5"). */
function contentLength(value: string): number | undefined {
  const values = new Set(value.split(',').map((part) => part.trim()));
  const [only] = values;
  if (values.size !== 1 || only === undefined || !/^\d{1,15}$/.test(only)) return undefined;
  return Number(only);
}

function framingFromHeaders(headers: Record<string, string>, withoutLength: BodyFraming, transferCodingRequired: boolean): FramingResult {
  const transferEncoding = headers['transfer-encoding'];
  if (transferEncoding !== undefined) {
    if (isChunked(transferEncoding)) return { ok: true, framing: { kind: 'chunked' } };
    return transferCodingRequired ? { ok: false, reason: 'request transfer-encoding without final chunked' } : { ok: true, framing: { kind: 'until-close' } };
  }
  const length = headers['content-length'];
  if (length === undefined) return { ok: true, framing: withoutLength };
  const bytes = contentLength(length);
  if (bytes === undefined) return { ok: false, reason: 'invalid content-length' };
  return { ok: true, framing: bytes === 0 ? { kind: 'none' } : { kind: 'length', bytes } };
}

export function requestBodyFraming(head: HttpFacts): FramingResult {
  if (head.method.toUpperCase() === 'CONNECT') return { ok: true, framing: { kind: 'tunnel' } };
  return framingFromHeaders(head.headers, { kind: 'none' }, true);
}

export function responseBodyFraming(head: HttpResponseHead): FramingResult {
  if (head.status === 101) return { ok: true, framing: { kind: 'tunnel' } };
  if (head.status < 200 || head.status === 204 || head.status === 304) return { ok: true, framing: { kind: 'none' } };
  return framingFromHeaders(head.headers, { kind: 'until-close' }, false);
}
