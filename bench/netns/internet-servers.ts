/**
 * The servers of the "internet" namespace, run there as their own process
 * (`ip netns exec NS node dist/bench/netns/internet-servers.js KEY CERT`). Every server listens on all
 * addresses of the namespace and writes one JSON line to stdout per connection (or datagram) it gets,
 * with the local address it was reached on, so a test can prove that a denied flow never arrived:
 *
 * - HTTP on 80 (IPv4, and INTERNET_V6) and HTTPS on 443: `hello from <address>`;
 * - a Stratum pool on 3333: answers `mining.subscribe` / `mining.authorize` as a pool does;
 * - a UDP sink on 9999 (and 443, QUIC's port);
 * - a measurement server on 7000: `ping\n` → `pong\n`; `bulk N\n` → N bytes, then close;
 * - a DNS server on port 53 of the resolver address (UDP and TCP), answering A queries from DNS_ZONE and NXDOMAIN otherwise, recording
 *   every question (so a test proves a denied name was never asked outside).
 *
 * "ready" is printed once everything listens.
 */
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { frame, readFrames } from '../../src/dns/tcp-framing.js';
import { dnsPacket } from '../../src/dns/wire.js';
import { DNS_ZONE, INTERNET_ADDRESSES, INTERNET_V6 } from './topology.js';

export type InternetRecord =
  | { kind: 'http' | 'https' | 'stratum' | 'measure'; local: string; remote: string }
  | { kind: 'udp'; local: string; port: number; remote: string; bytes: number }
  | { kind: 'dns'; name: string; type: string; transport: 'udp' | 'tcp'; remote: string };

function record(entry: InternetRecord): void {
  process.stdout.write(`${JSON.stringify(entry)}\n`);
}

function connectionOf(kind: 'http' | 'https' | 'stratum' | 'measure', socket: net.Socket): void {
  record({ kind, local: socket.localAddress ?? '', remote: socket.remoteAddress ?? '' });
}

function listen(server: net.Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '0.0.0.0', () => resolve());
  });
}

const POOL_ANSWERS: Record<string, unknown> = {
  'mining.subscribe': [[['mining.set_difficulty', 'b4b6693b72a50c7116db18d6497cac52'], ['mining.notify', 'ae6812eb4cd7735a302a8a9dd95cf71f']], '08000002', 4],
  'mining.authorize': true,
};

async function main(): Promise<void> {
  const [keyPath, certPath] = process.argv.slice(2);
  if (!keyPath || !certPath) throw new Error('usage: internet-servers KEY CERT');

  const answer = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    res.end(`hello from ${req.socket.localAddress ?? '?'}\n`);
  };
  const plain = http.createServer(answer);
  plain.on('connection', (socket: net.Socket) => connectionOf('http', socket));
  const secure = https.createServer({ key: readFileSync(keyPath), cert: readFileSync(certPath) }, answer);
  secure.on('connection', (socket: net.Socket) => connectionOf('https', socket));

  const pool = net.createServer((socket) => {
    connectionOf('stratum', socket);
    socket.on('error', () => socket.destroy());
    let buffered = '';
    socket.setEncoding('utf8').on('data', (text: string) => {
      buffered += text;
      let newline = buffered.indexOf('\n');
      while (newline >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        try {
          const message = JSON.parse(line) as { id?: unknown; method?: unknown };
          const result = typeof message.method === 'string' ? POOL_ANSWERS[message.method] : undefined;
          socket.write(`${JSON.stringify({ id: message.id ?? null, result: result ?? null, error: null })}\n`);
        } catch {
          socket.destroy();
        }
        newline = buffered.indexOf('\n');
      }
    });
  });

  const measure = net.createServer({ noDelay: true }, (socket) => {
    connectionOf('measure', socket);
    socket.on('error', () => socket.destroy());
    let buffered = '';
    const onData = (text: string): void => {
      buffered += text;
      if (!buffered.includes('\n')) return;
      const [command, size] = buffered.trim().split(' ');
      buffered = '';
      if (command === 'ping') socket.write('pong\n');
      else if (command === 'bulk') {
        socket.off('data', onData);
        sendBulk(socket, Number(size));
      } else socket.destroy();
    };
    socket.setEncoding('utf8').on('data', onData);
  });

  const sockets = [9999, 443].map((port) => {
    const udp = dgram.createSocket('udp4');
    udp.on('message', (message, remote) => record({ kind: 'udp', local: '0.0.0.0', port, remote: remote.address, bytes: message.length }));
    return new Promise<void>((resolve) => udp.bind(port, '0.0.0.0', () => resolve()));
  });

  const plainV6 = http.createServer(answer);
  plainV6.on('connection', (socket: net.Socket) => connectionOf('http', socket));
  const listenV6 = new Promise<void>((resolve, reject) => {
    plainV6.once('error', reject);
    plainV6.listen(80, INTERNET_V6, () => resolve());
  });
  await Promise.all([listen(plain, 80), listen(secure, 443), listen(pool, 3333), listen(measure, 7000), ...sockets, serveDns(), listenV6]);
  process.stdout.write('ready\n');
}

/** A resolver for DNS_ZONE: A records of its names (any label under `*.NAME` too), NXDOMAIN otherwise. */
async function serveDns(): Promise<void> {
  const answer = (bytes: Buffer, transport: 'udp' | 'tcp', remote: string): Buffer | undefined => {
    let query: dnsPacket.DecodedPacket;
    try {
      query = dnsPacket.decode(bytes);
    } catch {
      return undefined;
    }
    const question = query.questions?.[0];
    if (question === undefined) return undefined;
    const name = question.name.toLowerCase();
    record({ kind: 'dns', name, type: String(question.type), transport, remote });
    const zoneName = Object.keys(DNS_ZONE).find((known) => name === known || name.endsWith(`.${known}`));
    const address = zoneName === undefined ? undefined : DNS_ZONE[zoneName];
    return dnsPacket.encode({
      type: 'response',
      id: query.id ?? 0,
      flags: dnsPacket.RECURSION_AVAILABLE | (address === undefined ? 3 : 0),
      questions: [question],
      answers: address !== undefined && question.type === 'A' ? [{ name: question.name, type: 'A', ttl: 300, data: address }] : [],
    });
  };
  const udp = dgram.createSocket('udp4');
  udp.on('message', (bytes, remote) => {
    const response = answer(bytes, 'udp', remote.address);
    if (response) udp.send(response, remote.port, remote.address);
  });
  const tcp = net.createServer((socket) => {
    socket.on('error', () => socket.destroy());
    readFrames(socket, 65535, (message) => {
      const response = answer(Buffer.from(message), 'tcp', socket.remoteAddress ?? '');
      if (response) socket.write(frame(response));
    });
  });
  // Bound to its own address: a UDP socket on 0.0.0.0 would answer from the route's address, which the
  // asker (rightly) ignores.
  await new Promise<void>((resolve) => udp.bind(53, INTERNET_ADDRESSES.resolver, () => resolve()));
  await new Promise<void>((resolve, reject) => {
    tcp.once('error', reject);
    tcp.listen(53, INTERNET_ADDRESSES.resolver, () => resolve());
  });
}

/** Writes `total` bytes in 64 KiB chunks, honouring backpressure, then ends. */
function sendBulk(socket: net.Socket, total: number): void {
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  let left = Number.isFinite(total) && total > 0 ? total : 0;
  const pump = (): void => {
    while (left > 0) {
      const piece = left >= chunk.length ? chunk : chunk.subarray(0, left);
      left -= piece.length;
      if (!socket.write(piece)) return void socket.once('drain', pump);
    }
    socket.end();
  };
  pump();
}

main().catch((error: unknown) => {
  process.stderr.write(`internet-servers: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
