/**
 * The measuring client of the transparent benchmark, run inside the agent namespace
 * (`node dist/bench/netns/measure-client.js MODE HOST PORT PROXY_PORT CONNECTIONS BULK_BYTES`):
 *
 * - `plain`: connects straight to HOST:PORT. Run as root it is redirected to the transparent listener;
 *   run as the proxy's uid it is not (the direct baseline, routing only);
 * - `connect`: opens an explicit CONNECT tunnel through Chokepoint's HTTP listener on 127.0.0.1:PROXY_PORT.
 *
 * Setup latency: CONNECTIONS sequential connections, each timed from connect() to the first byte of the
 * server's answer to `ping` (so a proxy's decision, dial and relay are all inside). Throughput: one
 * connection downloading BULK_BYTES. Prints one JSON line: { setupMs: number[], mbPerS: number }.
 */
import net from 'node:net';

type Mode = 'plain' | 'connect';

function open(mode: Mode, host: string, port: number, proxyPort: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    if (mode === 'plain') {
      const socket = net.connect({ host, port, noDelay: true }, () => resolve(socket));
      socket.once('error', reject);
      return;
    }
    const socket = net.connect({ host: '127.0.0.1', port: proxyPort, noDelay: true }, () => {
      socket.write(`CONNECT ${host}:${port} HTTP/1.1\r\nHost: ${host}:${port}\r\n\r\n`);
    });
    socket.once('error', reject);
    let head = '';
    const onData = (chunk: Buffer): void => {
      head += chunk.toString('latin1');
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      socket.off('data', onData);
      socket.pause();
      if (!head.startsWith('HTTP/1.1 200')) return reject(new Error(`CONNECT refused: ${head.split('\r\n')[0] ?? ''}`));
      if (end + 4 < head.length) return reject(new Error('unexpected bytes after the CONNECT answer'));
      resolve(socket);
    };
    socket.on('data', onData);
  });
}

/** connect() → first byte of the server's answer to `ping`, in milliseconds. */
async function setupOnce(mode: Mode, host: string, port: number, proxyPort: number): Promise<number> {
  const began = process.hrtime.bigint();
  const socket = await open(mode, host, port, proxyPort);
  socket.write('ping\n');
  await new Promise<void>((resolve, reject) => {
    socket.once('data', () => resolve());
    socket.once('error', reject);
    socket.once('close', () => reject(new Error('closed before answering')));
    socket.resume();
  });
  const ms = Number(process.hrtime.bigint() - began) / 1e6;
  socket.destroy();
  return ms;
}

async function throughput(mode: Mode, host: string, port: number, proxyPort: number, bytes: number): Promise<number> {
  const socket = await open(mode, host, port, proxyPort);
  const began = process.hrtime.bigint();
  socket.write(`bulk ${bytes}\n`);
  let received = 0;
  await new Promise<void>((resolve, reject) => {
    socket.on('data', (chunk: Buffer) => (received += chunk.length));
    socket.once('end', () => resolve());
    socket.once('error', reject);
    socket.resume();
  });
  const seconds = Number(process.hrtime.bigint() - began) / 1e9;
  socket.destroy();
  if (received !== bytes) throw new Error(`received ${received} of ${bytes} bytes`);
  return bytes / 1e6 / seconds;
}

async function main(): Promise<void> {
  const [modeText, host, portText, proxyPortText, countText, bulkText] = process.argv.slice(2);
  if ((modeText !== 'plain' && modeText !== 'connect') || !host) throw new Error('usage: measure-client plain|connect HOST PORT PROXY_PORT CONNECTIONS BULK_BYTES');
  const [port, proxyPort, count, bulk] = [portText, proxyPortText, countText, bulkText].map(Number) as [number, number, number, number];
  const setupMs: number[] = [];
  for (let i = 0; i < count; i += 1) setupMs.push(await setupOnce(modeText, host, port, proxyPort));
  const mbPerS = await throughput(modeText, host, port, proxyPort, bulk);
  process.stdout.write(`${JSON.stringify({ setupMs, mbPerS })}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`measure-client: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
