/**
 * One DNS-over-TCP connection (RFC 7766): length-prefixed queries, possibly pipelined, answered as each
 * is ready. What a hostile or broken client cannot do here:
 *
 *  - hold buffers with a huge length prefix: a query is at most MAX_TCP_QUERY bytes (a question of 255
 *    bytes plus EDNS options and padding fits easily); a larger prefix closes the connection at once
 *    instead of waiting for up to 64 KiB that no real query needs;
 *  - keep the connection open by dripping bytes: the idle timer is reset by complete queries and by
 *    answers, not by any byte (socket.setTimeout would count a byte every few seconds as activity);
 *  - pipeline forever: after MAX_QUERIES_PER_CONNECTION queries the rest is ignored, the pending answers
 *    are written and the connection is ended (the client reconnects, as RFC 7766 §6.2.3 allows);
 *  - have more than MAX_IN_FLIGHT_PER_CONNECTION queries pending: reading pauses until some are answered.
 */
import type net from 'node:net';
import type { DnsService } from '../dns/dns-service.js';
import { frame, readFrames } from '../dns/tcp-framing.js';

export const MAX_TCP_QUERY = 4096;
export const MAX_QUERIES_PER_CONNECTION = 1000;
const MAX_IN_FLIGHT_PER_CONNECTION = 32;

export function serveTcpConnection(socket: net.Socket, service: DnsService, idleMs: number, onError: (error: NodeJS.ErrnoException) => void): void {
  socket.on('error', () => socket.destroy());
  let idle = setTimeout(() => socket.destroy(), idleMs);
  const stillBusy = (): void => {
    clearTimeout(idle);
    idle = setTimeout(() => socket.destroy(), idleMs);
  };
  socket.once('close', () => clearTimeout(idle));

  const client = { address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0, transport: 'tcp' as const };
  let inFlight = 0;
  let received = 0;
  const endIfDone = (): void => {
    if (received >= MAX_QUERIES_PER_CONNECTION && inFlight === 0) socket.end();
  };
  readFrames(socket, MAX_TCP_QUERY, (message) => {
    if (received >= MAX_QUERIES_PER_CONNECTION) return;
    received += 1;
    stillBusy();
    inFlight += 1;
    if (inFlight >= MAX_IN_FLIGHT_PER_CONNECTION || received >= MAX_QUERIES_PER_CONNECTION) socket.pause();
    service.answer(Buffer.from(message), client).then(
      (response) => {
        inFlight -= 1;
        if (socket.destroyed) return;
        // An unanswerable message (a response sent to us) ends the connection: the stream is not DNS.
        if (response === undefined) {
          socket.destroy();
          return;
        }
        socket.write(frame(response));
        stillBusy();
        if (received < MAX_QUERIES_PER_CONNECTION) socket.resume();
        endIfDone();
      },
      (error: unknown) => {
        onError(error instanceof Error ? error : new Error(String(error)));
        socket.destroy();
      },
    );
  });
}
