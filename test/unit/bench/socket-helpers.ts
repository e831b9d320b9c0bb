/** Helpers for the bench tests that need real loopback sockets. */
import net from 'node:net';

export function listen(server: net.Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      resolve(typeof address === 'object' && address !== null ? address.port : 0);
    });
  });
}

export function close(server: net.Server): Promise<void> {
  server.closeAllConnections?.();
  return new Promise((resolve) => server.close(() => resolve()));
}

/** Connects, writes `chunks` one by one (each flushed separately), collects what comes back until `until` holds. */
export function exchange(port: number, chunks: Buffer[], until: (received: Buffer) => boolean): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port, noDelay: true });
    let received = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (until(received)) {
        socket.destroy();
        resolve(received);
      }
    });
    socket.on('error', reject);
    socket.on('connect', async () => {
      for (const chunk of chunks) {
        await new Promise<void>((done) => socket.write(chunk, () => done()));
        await new Promise((done) => setTimeout(done, 5)); // separate TCP segments, so the server sees the split
      }
    });
  });
}
