/**
 * Child process holding the upstream servers every measurement talks to (sink, echo, HTTP origin), all on
 * 127.0.0.1. It runs apart from the runner so it can get a raised open-file limit (it holds the far ends
 * of thousands of idle tunnels). Prints its ports as one JSON line; exits when its stdin closes, which also
 * happens if the runner dies.
 */
import type net from 'node:net';
import type { Endpoint, UpstreamEndpoints } from '../protocol.js';
import { createEchoServer } from './echo-server.js';
import { createHttpOriginServer } from './http-origin-server.js';
import { createSinkServer } from './sink-server.js';

function listenOnLoopback(server: net.Server): Promise<Endpoint> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0, backlog: 4096 }, () => {
      const address = server.address();
      if (typeof address === 'object' && address !== null) resolve({ host: '127.0.0.1', port: address.port });
      else reject(new Error('server has no port'));
    });
  });
}

async function main(): Promise<void> {
  const endpoints: UpstreamEndpoints = {
    sink: await listenOnLoopback(createSinkServer()),
    echo: await listenOnLoopback(createEchoServer()),
    httpOrigin: await listenOnLoopback(createHttpOriginServer()),
  };
  process.stdout.write(`${JSON.stringify(endpoints)}\n`);
  process.stdin.on('end', () => process.exit(0)).on('close', () => process.exit(0)).resume();
}

main().catch((error: unknown) => {
  process.stderr.write(`upstream servers failed: ${String(error)}\n`);
  process.exit(1);
});
