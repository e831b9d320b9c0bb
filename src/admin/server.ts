import http from 'node:http';
import { bearerMatches } from './auth.js';
import { HttpError, sendError, sendJson } from './http-json.js';
import { ROUTES, type AdminContext } from './routes.js';
import { messageOf } from '../error-message.js';

/**
 * The admin API listener (node:http, no framework: a dozen routes need a table, not a router). Every
 * route but `GET /v1/health` requires `Authorization: Bearer TOKEN`. A handler's failure is a JSON error,
 * never a crash of the proxy.
 */
/**
 * Connections the admin listener holds at once. It shares the process's file descriptors with the
 * proxy, and anyone who can reach it may connect before authenticating: without a cap, idle or slow
 * connections (each kept until headersTimeout) could use up the descriptors the agents' flows need.
 * Operators and scrapers need a handful.
 */
export const ADMIN_MAX_CONNECTIONS = 32;

export function createAdminServer(context: AdminContext, token: string): http.Server {
  const server = http.createServer((req, res) => {
    handle(context, token, req, res).catch((error: unknown) => {
      const failure = error instanceof HttpError ? error : new HttpError(500, 'internal_error', 'the request failed; see the proxy events');
      if (!(error instanceof HttpError)) {
        context.events.emit({ name: 'listener.error', kind: 'alert', outcome: 'failure', reason: `admin API: ${messageOf(error)}` });
      }
      if (res.headersSent) return void res.destroy();
      // A refused body may still be arriving: answer, then close instead of reading it all.
      if (failure.status === 413) res.setHeader('connection', 'close');
      sendError(res, failure);
    });
  });
  server.maxConnections = ADMIN_MAX_CONNECTIONS;
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  return server;
}

async function handle(context: AdminContext, token: string, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://admin.invalid');
  const matching = ROUTES.map((route) => ({ route, match: route.path.exec(url.pathname) })).filter((candidate) => candidate.match !== null);
  if (matching.length === 0) throw new HttpError(404, 'not_found', `no route ${url.pathname.slice(0, 200)}`);
  const found = matching.find((candidate) => candidate.route.method === req.method);
  // Authenticate before saying which methods exist, so an unauthenticated caller learns nothing more.
  const needsAuth = found ? found.route.auth : matching.some((candidate) => candidate.route.auth);
  if (needsAuth && !bearerMatches(req.headers.authorization, token)) {
    const given = req.headers.authorization !== undefined;
    throw new HttpError(401, 'unauthorized', given ? 'the bearer token is wrong' : 'this route needs Authorization: Bearer TOKEN', {
      'www-authenticate': given ? 'Bearer realm="chokepoint-admin", error="invalid_token"' : 'Bearer realm="chokepoint-admin"',
    });
  }
  if (!found || !found.match) {
    const allow = matching.map((candidate) => candidate.route.method).join(', ');
    throw new HttpError(405, 'method_not_allowed', `${req.method ?? ''} is not allowed on ${url.pathname}; use ${allow}`, { allow });
  }
  const params = found.match.slice(1).map((part) => {
    try {
      return decodeURIComponent(part);
    } catch {
      throw new HttpError(400, 'invalid_request', 'the path is not valid percent-encoding');
    }
  });
  const result = await found.route.handle(context, params, req, url);
  if ('json' in result) return sendJson(res, result.status, result.json);
  res.writeHead(result.status, { 'content-type': result.contentType, 'content-length': Buffer.byteLength(result.text), 'cache-control': 'no-store' });
  res.end(result.text);
}
