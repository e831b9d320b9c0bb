/** Helpers for the bench tests that need real loopback sockets. */
import net from 'node:net';

/** Servers started by a test file, closed (with their open connections) by stopAll(). */
export class TestServers {
  private readonly running: Array<{ server: net.Server; sockets: Set<net.Socket> }> = [];

  start(server: net.Server): Promise<number> {
    const sockets = new Set<net.Socket>();
    server.on('connection', (socket: net.Socket) => {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
    });
    this.running.push({ server, sockets });
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const address = server.address();
        resolve(typeof address === 'object' && address !== null ? address.port : 0);
      });
    });
  }

  async stopAll(): Promise<void> {
    const all = this.running.splice(0);
    await Promise.all(
      all.map(({ server, sockets }) => {
        for (const socket of sockets) socket.destroy();
        return new Promise<void>((resolve) => server.close(() => resolve()));
      }),
    );
  }
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
