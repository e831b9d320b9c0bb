/** One small request/response through an echo server: proves a tunnel carries bytes both ways. */
import type { Socket } from 'node:net';

const PING = Buffer.from('ping\n');

/**
 * Writes a few bytes to a paused socket from openStream() and waits until the echo server has sent them
 * all back. Leaves the socket paused, with no listeners of ours, ready to close or to hold idle.
 */
export function echoRoundTrip(socket: Socket, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let received = 0;
    const finish = (error?: Error): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('error', finish);
      socket.off('close', onClose);
      socket.pause();
      if (error) reject(error);
      else resolve();
    };
    const onData = (chunk: Buffer): void => {
      received += chunk.length;
      if (received >= PING.length) finish();
    };
    const onClose = (): void => finish(new Error('closed before the echo came back'));
    const timer = setTimeout(() => finish(new Error(`no echo within ${timeoutMs} ms`)), timeoutMs);
    socket.on('data', onData);
    socket.once('error', finish);
    socket.once('close', onClose);
    socket.resume();
    socket.write(PING);
  });
}
