import type http from 'node:http';
import { messageOf } from '../error-message.js';

/**
 * JSON in and out for the admin API: every answer is JSON, every error is `{error, message}` with the
 * status that says what went wrong, and request bodies are bounded before they are parsed.
 */

/** Largest request body accepted; admin requests are a few hundred bytes. */
export const MAX_BODY_BYTES = 64 * 1024;

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export function sendJson(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(text);
}

export function sendError(res: http.ServerResponse, error: HttpError): void {
  sendJson(res, error.status, { error: error.code, message: error.message }, error.headers);
}

/**
 * The request body parsed as JSON; an empty body is `undefined`. Refuses (413) a body above the limit
 * as soon as it is known to be one, without buffering the rest.
 */
export function readJson(req: http.IncomingMessage, limit = MAX_BODY_BYTES): Promise<unknown> {
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (declared > limit) return Promise.reject(tooLarge(limit));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on('data', (chunk: Buffer) => {
      if (failed) return;
      size += chunk.length;
      if (size > limit) {
        failed = true;
        reject(tooLarge(limit));
        return;
      }
      chunks.push(chunk);
    });
    req.once('error', (error) => {
      failed = true;
      reject(new HttpError(400, 'bad_request', `request body could not be read: ${error.message}`));
    });
    // A client that goes away mid-body: settle rather than leave the handler waiting forever.
    req.once('close', () => {
      if (!req.complete && !failed) {
        failed = true;
        reject(new HttpError(400, 'bad_request', 'the client closed the connection before the body ended'));
      }
    });
    req.once('end', () => {
      if (failed) return;
      const text = Buffer.concat(chunks).toString('utf8');
      if (text.trim() === '') return resolve(undefined);
      try {
        resolve(JSON.parse(text));
      } catch (error) {
        reject(new HttpError(400, 'bad_json', `request body is not valid JSON: ${messageOf(error)}`));
      }
    });
  });
}

function tooLarge(limit: number): HttpError {
  return new HttpError(413, 'body_too_large', `request body is larger than ${limit} bytes`);
}
