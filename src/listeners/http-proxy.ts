import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type net from 'node:net';
import httpProxy from 'http-proxy';
import { parseTags } from '../identity/tags.js';
import type { ClientCredentials } from '../identity/identify.js';
import { display } from '../net/dialer.js';
import type { Verdict } from '../pipeline/flow-judge.js';
import { hasBody } from '../pipeline/http-inspection.js';
import type { Admission, FlowRequest, Pipeline } from '../pipeline/pipeline.js';
import { splitAuthority } from './connect-target.js';
import { refuseResponse, refuseSocket, type Refusal } from './denial.js';
import { headerValue, stripHopByHop } from './http-headers.js';
import { refusalForAdmission, refusalForDial } from './http-refusal.js';
import { holdBodyPrefix } from './held-body.js';
import { requestHeadBytes } from './http-budget.js';
import { UpstreamAgents } from './upstream-agents.js';
import { parseProxyAuthorization } from './proxy-auth.js';
import { messageOf } from '../error-message.js';

/**
 * The HTTP entry: absolute-URI requests (`GET http://host/path`) forwarded with http-proxy over
 * keep-alive connections, and CONNECT tunnels relayed as raw bytes. Both go through the pipeline.
 */

export interface HttpListenerOptions {
  headerTimeoutMs: number;
  maxHeaderBytes: number;
  /** Upper bound on upstream silence while a request is in progress (answers 504). */
  upstreamIdleMs: number;
}

export function createHttpProxyServer(pipeline: Pipeline, options: HttpListenerOptions): http.Server {
  const server = http.createServer({
    maxHeaderSize: options.maxHeaderBytes,
    headersTimeout: options.headerTimeoutMs,
    // Node enforces headersTimeout only when it sweeps its connections (every 30 s by default), so a
    // client dripping headers would hold a socket for up to 30 s past the limit without this.
    connectionsCheckingInterval: Math.min(options.headerTimeoutMs, 1_000),
    requestTimeout: 0, // bodies may stream for long; idle limits apply instead
    keepAlive: true,
  });
  const forwarder = createForwarder();
  // Idle pooled upstream connections would otherwise keep the process alive after a stop.
  server.on('close', () => forwarder.agents.destroy());

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    void handleRequest(pipeline, forwarder, options, req, res).catch((error: unknown) => internalError(res, error));
  });
  server.on('connect', (req: IncomingMessage, socket: net.Socket, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    void handleConnect(pipeline, req, socket, head).catch(() => socket.destroy());
  });
  server.on('upgrade', (_req: IncomingMessage, socket: net.Socket) => {
    socket.on('error', () => socket.destroy());
    refuseSocket(socket, {
      status: 400,
      error: 'bad_request',
      reason: 'protocol upgrades (WebSocket) through this proxy must use CONNECT',
    });
  });
  server.on('clientError', (error: NodeJS.ErrnoException, socket: net.Socket) => {
    socket.on('error', () => socket.destroy());
    if (error.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    if (error.code === 'HPE_HEADER_OVERFLOW') {
      refuseSocket(socket, { status: 431, error: 'headers_too_large', reason: `request headers exceed ${options.maxHeaderBytes} bytes` });
    } else if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
      refuseSocket(socket, { status: 408, error: 'request_timeout', reason: 'request headers were not received in time' });
    } else {
      refuseSocket(socket, { status: 400, error: 'bad_request', reason: `malformed HTTP request (${error.code ?? 'parse error'})` });
    }
  });
  return server;
}

/** Per-request state the shared http-proxy instance needs back in its events. */
interface Exchange {
  upstreamIdleMs: number;
  /** The request to the destination, so that ending the flow ends it too (not only the agent's side). */
  onRequest?(proxyReq: http.ClientRequest): void;
  onResponse(proxyRes: IncomingMessage): void;
}

interface Forwarder {
  proxy: httpProxy;
  /** Pooled keep-alive connections to vetted upstream addresses; destroyed with the listener. */
  agents: UpstreamAgents;
  exchanges: WeakMap<IncomingMessage, Exchange>;
}

function createForwarder(): Forwarder {
  const agents = new UpstreamAgents();
  const proxy = httpProxy.createProxyServer({
    // Never tell the destination where the agent sits inside the sandbox.
    xfwd: false,
    // Keep the agent's Host header: we dial an IP, but the request is for the name.
    changeOrigin: false,
  });
  const exchanges = new WeakMap<IncomingMessage, Exchange>();
  proxy.on('proxyReq', (proxyReq: http.ClientRequest, req: IncomingMessage) => {
    const exchange = exchanges.get(req);
    if (!exchange) return;
    exchange.onRequest?.(proxyReq);
    proxyReq.setTimeout(exchange.upstreamIdleMs, () =>
      proxyReq.destroy(Object.assign(new Error(`no answer for ${exchange.upstreamIdleMs} ms`), { code: 'ETIMEDOUT' })),
    );
  });
  proxy.on('proxyRes', (proxyRes: IncomingMessage, req: IncomingMessage) => {
    stripHopByHop(proxyRes.headers);
    exchanges.get(req)?.onResponse(proxyRes);
  });
  return { proxy, exchanges, agents };
}

async function handleRequest(
  pipeline: Pipeline,
  forwarder: Forwarder,
  options: HttpListenerOptions,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const target = absoluteTarget(req.url ?? '');
  if ('error' in target) {
    refuseResponse(res, { status: 400, error: 'bad_request', reason: target.error });
    return;
  }
  const request = flowRequest(req, 'http', target.url.hostname, target.port);
  if ('error' in request) {
    refuseResponse(res, request.error);
    return;
  }
  const admission = await pipeline.admit(request);
  if (admission.kind !== 'admitted') {
    refuseResponse(res, refusalForAdmission(admission));
    return;
  }
  await forward(pipeline, forwarder, options, admission, target.url, req, res);
}

/** How much of a request body is held and inspected before any of it is forwarded (mining RPCs are small). */
const INSPECTED_BODY_BYTES = 16 * 1024;

async function forward(
  pipeline: Pipeline,
  forwarder: Forwarder,
  options: HttpListenerOptions,
  admission: Extract<Admission, { kind: 'admitted' }>,
  url: URL,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const flow = admission.flow;
  const address = flow.addresses[0] ?? '';
  flow.dialled = address;
  let bytesUp = 0;
  let bytesDown = 0;
  let failure: { code: string; message: string } | undefined;
  let closed = false;
  const finish = (): void => {
    if (closed) return;
    closed = true;
    pipeline.close(flow, {
      outcome: failure || !res.writableFinished ? 'failure' : 'success',
      reason: failure?.message ?? (res.writableFinished ? 'response complete' : 'client went away'),
      ...(failure ? { error: failure } : {}),
      source: { bytes: bytesUp },
      destination: { bytes: bytesDown },
      url: { full: url.href, method: req.method ?? 'GET', status: res.statusCode },
    });
  };
  res.on('close', finish);
  let upstreamRequest: http.ClientRequest | undefined;
  flow.terminate = (reason: string) => {
    failure = { code: 'TERMINATED', message: reason };
    upstreamRequest?.destroy();
    res.destroy();
  };
  if (flow.revoked !== undefined) return flow.terminate(flow.revoked);
  const refuse = (verdict: Verdict): boolean => {
    if (!verdict.block) return false;
    failure = { code: 'DENIED', message: verdict.reason };
    pipeline.refuseClassified(flow, verdict);
    closed = true; // refuseClassified closed the flow
    refuseResponse(res, { status: 403, error: 'denied', reason: verdict.reason, rule: verdict.rule, flow });
    return true;
  };

  // Nothing is forwarded until the head and the first bytes of the body have been judged.
  const inspection = pipeline.inspectHttp(flow);
  if (refuse(inspection.request(req, url))) return;
  // The bytes_out budget: the head now, the held body once inspected, the rest of it as it streams.
  const meter = pipeline.budgets.meter(flow);
  // Before anything is forwarded the agent is told why (403); once the body streams, the exchange ends.
  const overBudget = (bytes: number, forwarding: boolean): boolean => {
    const over = bytes > 0 ? meter(bytes) : undefined;
    if (over === undefined) return false;
    if (forwarding) {
      flow.terminate?.(over);
      return true;
    }
    failure ??= { code: 'DENIED', message: over };
    // A `quarantine` budget has already ended the exchange (the controller closes the agent's flows).
    if (!res.destroyed) refuseResponse(res, { status: 403, error: 'denied', reason: over, rule: 'budget.bytes_out', flow });
    return true;
  };
  if (overBudget(requestHeadBytes(req), false)) return;
  req.on('data', (chunk: Buffer) => (bytesUp += chunk.length));
  // Most requests (GET, HEAD) carry no body: they skip the holding stream altogether.
  const body = hasBody(req) ? await holdBodyPrefix(req, INSPECTED_BODY_BYTES, (bytes) => !overBudget(bytes, true)) : undefined;
  // While the body was held the flow may have been revoked (reload, quarantine) or the client may have
  // gone: a body cut short is never forwarded, and nothing is forwarded for a flow that has ended.
  if (body?.state === 'aborted' || closed || failure !== undefined || res.destroyed || flow.revoked !== undefined) {
    if (!closed) {
      failure ??= { code: 'ABORTED', message: flow.revoked ?? 'client went away while its request body was inspected' };
      res.destroy();
      finish();
    }
    return;
  }
  for (const chunk of body?.chunks ?? []) if (refuse(inspection.requestBody(chunk))) return;
  if (body?.state === 'complete' && refuse(inspection.requestEnd())) return;
  if (overBudget(body?.chunks.reduce((sum, chunk) => sum + chunk.length, 0) ?? 0, false)) return;

  forwarder.exchanges.set(req, {
    upstreamIdleMs: options.upstreamIdleMs,
    onRequest: (proxyReq) => (upstreamRequest = proxyReq),
    onResponse: (proxyRes) => {
      // The pool may have answered on another vetted address than the first.
      flow.dialled = proxyRes.socket.remoteAddress ?? flow.dialled;
      const verdict = inspection.response(proxyRes);
      if (verdict.block) {
        pipeline.recordRefusal(flow, verdict);
        flow.terminate?.(`${verdict.rule}: ${verdict.reason}`);
      }
      proxyRes.on('data', (chunk: Buffer) => (bytesDown += chunk.length));
    },
  });
  stripHopByHop(req.headers);
  req.url = `${url.pathname}${url.search}`;
  const upstream = display(address, flow.target.port);
  forwarder.proxy.web(
    req,
    res,
    {
      target: `http://${upstream}`,
      // The outgoing request is built from `target`; re-install the name the agent asked for.
      headers: { host: url.host },
      // Dials the vetted addresses in turn, as tunnels do (the target above is the first of them).
      agent: forwarder.agents.for(flow.addresses),
      ...(body ? { buffer: body.stream } : {}),
    },
    (error: NodeJS.ErrnoException) => {
      failure = { code: error.code ?? 'ERROR', message: `upstream ${upstream}: ${error.message}` };
      const code = error.code === 'ETIMEDOUT' ? 'ETIMEDOUT' : 'ERROR';
      refuseResponse(res, refusalForDial({ ok: false, code, message: failure.message }, admission));
    },
  );
}


async function handleConnect(pipeline: Pipeline, req: IncomingMessage, socket: net.Socket, head: Buffer): Promise<void> {
  const authority = splitAuthority(req.url ?? '');
  if ('error' in authority) {
    refuseSocket(socket, { status: 400, error: 'bad_request', reason: `CONNECT target ${authority.error}` });
    return;
  }
  const request = flowRequest(req, 'connect', authority.host, authority.port);
  if ('error' in request) {
    refuseSocket(socket, request.error);
    return;
  }
  const admission = await pipeline.admit(request);
  if (admission.kind !== 'admitted') {
    refuseSocket(socket, refusalForAdmission(admission));
    return;
  }
  if (socket.destroyed) {
    pipeline.close(admission.flow, { outcome: 'failure', reason: 'client went away before the tunnel opened' });
    return;
  }
  // The tunnel is acknowledged before anything is dialled: the agent's first bytes decide whether it
  // is dialled at all (src/pipeline/tunnel.ts).
  await pipeline.tunnel(admission.flow, socket, head, () => socket.write('HTTP/1.1 200 Connection Established\r\n\r\n'));
}

/** Builds the pipeline request from an HTTP request's proxy headers, or the refusal to send. */
function flowRequest(
  req: IncomingMessage,
  entry: 'http' | 'connect',
  host: string,
  port: number,
): FlowRequest | { error: Refusal } {
  const auth = parseProxyAuthorization(headerValue(req.headers, 'proxy-authorization'));
  if (auth && 'error' in auth) return { error: { status: 407, error: 'invalid_credentials', reason: auth.error, headers: { 'proxy-authenticate': 'Basic realm="chokepoint"' } } };
  const tagHeader = headerValue(req.headers, 'chokepoint-tags');
  const tags = tagHeader === undefined ? { tags: {} } : parseTags(tagHeader, ',');
  if ('error' in tags) return { error: { status: 400, error: 'bad_request', reason: `Chokepoint-Tags: ${tags.error}` } };
  const credentials: ClientCredentials | undefined = auth;
  return {
    entry,
    client: { address: req.socket.remoteAddress ?? '', port: req.socket.remotePort ?? 0 },
    target: { host, port },
    tags: tags.tags,
    ...(credentials ? { credentials } : {}),
  };
}

function absoluteTarget(rawUrl: string): { url: URL; port: number } | { error: string } {
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(rawUrl)) {
    return { error: 'Chokepoint is a forward proxy: send absolute-URI requests (GET http://host/path) or CONNECT host:port' };
  }
  let url: URL;
  try {
    url = new URL(rawUrl);
  } catch {
    return { error: `"${rawUrl.slice(0, 200)}" is not a valid URL` };
  }
  if (url.protocol !== 'http:') {
    return { error: `${url.protocol.replace(':', '')} URLs cannot be forwarded as plain HTTP; use CONNECT ${url.host || 'host'}:443` };
  }
  if (url.username || url.password) return { error: 'credentials in the URL are not forwarded; use an Authorization header' };
  return { url, port: url.port ? Number(url.port) : 80 };
}

function internalError(res: ServerResponse, error: unknown): void {
  refuseResponse(res, {
    status: 502,
    error: 'internal_error',
    reason: `the proxy failed to handle this request: ${messageOf(error)}`,
  });
}

