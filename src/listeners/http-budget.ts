import type { IncomingMessage } from 'node:http';

/**
 * What a plain-HTTP request sends upstream, for the bytes_out budget: a request head carries data as
 * surely as a body does (a long URL, a header), so each request is charged its head before it is
 * forwarded, and its body chunk by chunk as it streams (src/listeners/held-body.ts).
 */

/** The size of the request head as the agent sent it: request line, header lines, blank line. */
export function requestHeadBytes(req: IncomingMessage): number {
  // "METHOD URL HTTP/x.y\r\n"
  let bytes = Buffer.byteLength(req.method ?? '') + 1 + Buffer.byteLength(req.url ?? '') + 1 + 8 + 2;
  const raw = req.rawHeaders;
  // "name: value\r\n" per header, then "\r\n".
  for (let index = 0; index + 1 < raw.length; index += 2) bytes += Buffer.byteLength(raw[index] ?? '') + 2 + Buffer.byteLength(raw[index + 1] ?? '') + 2;
  return bytes + 2;
}
