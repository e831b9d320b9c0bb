import type { ServerResponse } from 'node:http';
import type net from 'node:net';
import type { Flow } from '../flow/flow.js';

/**
 * Answers an agent can read and act on: a status code, a `Chokepoint-Reason` header and a JSON body
 * `{error, reason, rule, agent, flow}`. The same body serves plain HTTP responses and raw CONNECT
 * answers, so the agent learns the same thing whichever way it came.
 */

export interface Refusal {
  status: number;
  error: string;
  reason: string;
  rule?: string;
  flow?: Flow;
  /** Extra headers, e.g. Proxy-Authenticate on 407. */
  headers?: Record<string, string>;
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  403: 'Forbidden',
  407: 'Proxy Authentication Required',
  408: 'Request Timeout',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

function body(refusal: Refusal): string {
  return `${JSON.stringify({
    error: refusal.error,
    reason: refusal.reason,
    ...(refusal.rule ? { rule: refusal.rule } : {}),
    ...(refusal.flow ? { agent: refusal.flow.agent.name, flow: refusal.flow.id } : {}),
  })}\n`;
}

/** Header values must stay on one line of visible ASCII. */
function headerSafe(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, '?').slice(0, 512);
}

function headersOf(refusal: Refusal, length: number): Record<string, string> {
  return {
    'content-type': 'application/json',
    'content-length': String(length),
    'chokepoint-reason': headerSafe(refusal.reason),
    ...(refusal.rule ? { 'chokepoint-rule': headerSafe(refusal.rule) } : {}),
    ...refusal.headers,
  };
}

export function refuseResponse(res: ServerResponse, refusal: Refusal): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const text = body(refusal);
  res.writeHead(refusal.status, headersOf(refusal, Buffer.byteLength(text)));
  res.end(text);
}

/** For sockets no longer managed by the HTTP server (CONNECT, upgrades): write and close. */
export function refuseSocket(socket: net.Socket, refusal: Refusal): void {
  if (socket.destroyed) return;
  const text = body(refusal);
  const head = Object.entries({ ...headersOf(refusal, Buffer.byteLength(text)), connection: 'close' })
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('');
  socket.end(`HTTP/1.1 ${refusal.status} ${STATUS_TEXT[refusal.status] ?? 'Error'}\r\n${head}\r\n${text}`);
}
