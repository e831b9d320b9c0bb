/**
 * The DNS listener's sockets: UDP and TCP on the same address. Each query goes to DnsService (the
 * logic); this file only moves bytes. A TCP connection is served by dns-tcp-connection.ts (framing,
 * pipelining and its bounds); at most MAX_TCP_CONNECTIONS are open at once, each holding buffers.
 */
import dgram from 'node:dgram';
import net, { type AddressInfo } from 'node:net';
import type { ListenAddress } from '../config/addresses.js';
import type { DnsService } from '../dns/dns-service.js';
import { serveTcpConnection } from './dns-tcp-connection.js';

export interface DnsListenerOptions {
  /** A TCP connection with no complete query (nor answer) for this long is closed. */
  idleMs: number;
  /** Reports socket errors after start-up (never fatal). */
  onError: (transport: 'udp' | 'tcp', error: NodeJS.ErrnoException) => void;
}

export interface DnsListener {
  readonly address: AddressInfo;
  close(): Promise<void>;
}

const MAX_TCP_CONNECTIONS = 256;
/** With port 0, the UDP port the system picked may be taken for TCP: try another a few times. */
const BIND_ATTEMPTS = 5;

/** Binds UDP then TCP on the same port; rejects with the bind error (EADDRINUSE, EACCES, …). */
export async function startDnsListener(service: DnsService, listen: ListenAddress, options: DnsListenerOptions): Promise<DnsListener> {
  let lastError: unknown;
  for (let attempt = 0; attempt < (listen.port === 0 ? BIND_ATTEMPTS : 1); attempt += 1) {
    const udp = await bindUdp(listen);
    const port = udp.address().port;
    try {
      const tcp = await bindTcp({ host: listen.host, port });
      return serve(service, udp, tcp, options);
    } catch (error) {
      lastError = error;
      udp.close();
    }
  }
  throw lastError;
}

function bindUdp(listen: ListenAddress): Promise<dgram.Socket> {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket({ type: net.isIPv6(listen.host) ? 'udp6' : 'udp4' });
    socket.once('error', reject);
    socket.bind({ address: listen.host, port: listen.port }, () => {
      socket.off('error', reject);
      resolve(socket);
    });
  });
}

function bindTcp(listen: ListenAddress): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen({ host: listen.host, port: listen.port, backlog: 1024 }, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}

function serve(service: DnsService, udp: dgram.Socket, tcp: net.Server, options: DnsListenerOptions): DnsListener {
  // Answers still pending at close (an upstream timing out) must not be sent: send() on a closed
  // socket throws, and inside a promise callback that would be an unhandled rejection.
  let closed = false;
  udp.on('error', (error: NodeJS.ErrnoException) => options.onError('udp', error));
  udp.on('message', (bytes, remote) => {
    service.answer(bytes, { address: remote.address, port: remote.port, transport: 'udp' }).then(
      (response) => {
        if (response !== undefined && !closed) udp.send(response, remote.port, remote.address, (error) => error && options.onError('udp', error));
      },
      (error: unknown) => options.onError('udp', asErrno(error)),
    );
  });

  const sockets = new Set<net.Socket>();
  tcp.on('error', (error: NodeJS.ErrnoException) => options.onError('tcp', error));
  tcp.maxConnections = MAX_TCP_CONNECTIONS;
  tcp.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    serveTcpConnection(socket, service, options.idleMs, (error) => options.onError('tcp', error));
  });

  const udpAddress = udp.address();
  return {
    address: udpAddress,
    close: async () => {
      closed = true;
      // Queries waiting for an upstream end now (SERVFAIL, with their dns.query event), not after their timeout.
      await service.close();
      const tcpClosed = new Promise<void>((resolve) => tcp.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      const udpClosed = new Promise<void>((resolve) => udp.close(() => resolve()));
      await Promise.all([tcpClosed, udpClosed]);
    },
  };
}

function asErrno(error: unknown): NodeJS.ErrnoException {
  return error instanceof Error ? error : new Error(String(error));
}
