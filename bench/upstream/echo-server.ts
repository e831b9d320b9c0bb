/** Echo server: every byte comes back. Used for tunnel setup round trips and as the idle tunnels' far end. */
import net from 'node:net';

export function createEchoServer(): net.Server {
  const server = net.createServer((socket) => {
    socket.setNoDelay(true);
    socket.on('error', () => undefined); // clients close abruptly by design
    socket.pipe(socket);
  });
  server.maxConnections = 100_000; // the idle-tunnel test holds thousands at once
  return server;
}
