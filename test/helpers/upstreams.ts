import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http, { type IncomingHttpHeaders } from 'node:http';
import https from 'node:https';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

/**
 * Real servers on loopback for the proxy to reach. Each records every connection it accepted, so a
 * test can prove that a denied flow never reached it.
 */

export interface RecordedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface Upstream {
  port: number;
  connections: number;
  requests: RecordedRequest[];
  close(): Promise<void>;
}

function closeAll(server: net.Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    if (server instanceof http.Server) server.closeAllConnections();
  });
}

async function listening(server: net.Server, host = '127.0.0.1'): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return (server.address() as AddressInfo).port;
}

/** HTTP server answering `200 hello from upstream` (or what `handler` writes) and recording requests. */
export async function httpUpstream(
  handler?: (req: http.IncomingMessage, res: http.ServerResponse, body: string) => void,
  host = '127.0.0.1',
): Promise<Upstream> {
  const upstream: Upstream = { port: 0, connections: 0, requests: [], close: () => closeAll(server) };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      upstream.requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      if (handler) handler(req, res, body);
      else res.end('hello from upstream\n');
    });
  });
  server.on('connection', () => (upstream.connections += 1));
  upstream.port = await listening(server, host);
  return upstream;
}

/** A self-signed certificate for `names`, generated per run with openssl; the key never leaves tmp. */
export function selfSignedCertificate(names: string[]): { key: Buffer; cert: Buffer; certPath: string; cleanup(): void } {
  const dir = mkdtempSync(path.join(tmpdir(), 'chokepoint-cert-'));
  const keyPath = path.join(dir, 'key.pem');
  const certPath = path.join(dir, 'cert.pem');
  const san = names.map((name) => (/^[\d.]+$/.test(name) ? `IP:${name}` : `DNS:${name}`)).join(',');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
    '-subj', `/CN=${names[0] ?? 'localhost'}`, '-addext', `subjectAltName=${san}`,
    '-keyout', keyPath, '-out', certPath,
  ], { stdio: 'ignore' });
  return {
    key: readFileSync(keyPath),
    cert: readFileSync(certPath),
    certPath,
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** HTTPS server for `names` answering `hello over tls`. */
export async function httpsUpstream(names: string[]): Promise<Upstream & { certPath: string }> {
  const certificate = selfSignedCertificate(names);
  const server = https.createServer({ key: certificate.key, cert: certificate.cert }, (req, res) => {
    upstream.requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: '' });
    res.end('hello over tls\n');
  });
  const upstream = {
    port: 0,
    connections: 0,
    requests: [] as RecordedRequest[],
    certPath: certificate.certPath,
    close: async () => {
      await closeAll(server);
      certificate.cleanup();
    },
  };
  server.on('connection', () => (upstream.connections += 1));
  upstream.port = await listening(server);
  return upstream;
}

/**
 * A raw TCP server on loopback that runs `onSocket` for every connection, counts connections, and
 * destroys every open socket when it is closed. Without `allowHalfOpen` a client's FIN closes the socket.
 */
export async function tcpUpstream(
  onSocket: (socket: net.Socket) => void,
  options: { host?: string; allowHalfOpen?: boolean } = {},
): Promise<Upstream & { sockets: Set<net.Socket> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: options.allowHalfOpen ?? false }, (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    onSocket(socket);
  });
  const upstream = {
    port: 0,
    connections: 0,
    requests: [] as RecordedRequest[],
    sockets,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await closeAll(server);
    },
  };
  server.on('connection', () => (upstream.connections += 1));
  upstream.port = await listening(server, options.host ?? '127.0.0.1');
  return upstream;
}

/** TCP server that echoes what it receives and half-closes when the client does. */
export function echoUpstream(host = '127.0.0.1'): Promise<Upstream & { sockets: Set<net.Socket> }> {
  return tcpUpstream((socket) => socket.pipe(socket), { host, allowHalfOpen: true });
}
