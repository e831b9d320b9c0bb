/** Loopback port helpers: pick a free port for a child to bind, and wait until a child listens. */
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/** Asks the kernel for a free port. A child binds it a moment later; on loopback the race is harmless. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('no port assigned'))));
    });
  });
}

function acceptsConnections(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * Polls until something accepts connections on `port`. `stillRunning` lets the caller stop waiting as soon
 * as the process that should listen has died (its log then says why).
 */
export async function waitForPort(port: number, timeoutMs: number, stillRunning: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!stillRunning()) throw new Error(`process exited before listening on port ${port}`);
    if (await acceptsConnections(port)) return;
    await sleep(100);
  }
  throw new Error(`nothing listened on port ${port} within ${timeoutMs} ms`);
}
