/**
 * Opens a byte stream to an upstream server, either directly or through a proxy's CONNECT method, so every
 * load client measures "direct" and "through a proxy" with exactly the same code after this point.
 */
import { once } from 'node:events';
import net, { type Socket } from 'node:net';
import type { Endpoint, Route } from '../protocol.js';

/** A CONNECT response head larger than this is not a proxy we are willing to benchmark. */
const MAX_RESPONSE_HEAD = 16 * 1024;
const HEAD_END = Buffer.from('\r\n\r\n');

/** Sends CONNECT and waits for a 2xx. The upstream servers never speak first, so no byte may follow the head. */
function establishTunnel(socket: Socket, target: Endpoint): Promise<void> {
  const authority = `${target.host}:${target.port}`;
  socket.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`);
  return new Promise((resolve, reject) => {
    let head = Buffer.alloc(0);
    const stopListening = (): void => {
      socket.off('data', onData);
      socket.off('close', onClose);
      socket.off('error', fail);
    };
    const fail = (error: Error): void => {
      stopListening();
      reject(error);
    };
    const onClose = (): void => fail(new Error('proxy closed the connection before answering CONNECT'));
    const onData = (chunk: Buffer): void => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf(HEAD_END);
      if (end < 0) {
        if (head.length > MAX_RESPONSE_HEAD) fail(new Error('CONNECT response head too large'));
        return;
      }
      const statusLine = head.subarray(0, head.indexOf('\r\n')).toString('latin1');
      if (!/^HTTP\/1\.[01] 2\d\d\b/.test(statusLine)) return fail(new Error(`CONNECT refused: ${statusLine}`));
      if (end + HEAD_END.length !== head.length) return fail(new Error('unexpected bytes after the CONNECT response'));
      stopListening();
      socket.pause();
      resolve();
    };
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.once('error', fail);
  });
}

/**
 * A connected socket that reaches `target` along `route`. It is returned *paused* and without an 'error'
 * listener: the caller attaches its own listeners and calls resume(). Rejects after `timeoutMs`.
 */
export async function openStream(route: Route, target: Endpoint, timeoutMs: number): Promise<Socket> {
  const first = route.kind === 'direct' ? target : { host: '127.0.0.1', port: route.port };
  const socket = net.connect({ host: first.host, port: first.port, noDelay: true });
  const timer = setTimeout(() => socket.destroy(new Error(`no stream within ${timeoutMs} ms`)), timeoutMs);
  try {
    await once(socket, 'connect');
    if (route.kind === 'proxy') await establishTunnel(socket, target);
    else socket.pause();
    return socket;
  } catch (error) {
    socket.destroy();
    throw error;
  } finally {
    clearTimeout(timer);
  }
}
