import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { echoRoundTrip } from '../../../bench/load/echo-round-trip.js';
import { openStream } from '../../../bench/load/open-stream.js';
import { createEchoServer } from '../../../bench/upstream/echo-server.js';
import { TestServers } from './socket-helpers.js';

const servers = new TestServers();
const start = (server: net.Server): Promise<number> => servers.start(server);
afterEach(() => servers.stopAll());

/** A stand-in proxy that answers every CONNECT with `answer` and then, on 2xx, relays to the requested port. */
function fakeProxy(answer: string): net.Server {
  return net.createServer((client) => {
    client.on('error', () => undefined);
    client.once('data', (head: Buffer) => {
      const port = Number(/CONNECT 127\.0\.0\.1:(\d+) /.exec(head.toString('latin1'))?.[1]);
      client.write(answer);
      if (!answer.startsWith('HTTP/1.1 2')) return;
      const upstream = net.connect({ host: '127.0.0.1', port });
      upstream.on('error', () => client.destroy());
      client.pipe(upstream).pipe(client);
    });
  });
}

describe('openStream', () => {
  it('reaches the server directly', async () => {
    const echo = await start(createEchoServer());
    const socket = await openStream({ kind: 'direct' }, { host: '127.0.0.1', port: echo }, 2_000);
    await echoRoundTrip(socket, 2_000);
    socket.destroy();
  });

  it('reaches the server through CONNECT', async () => {
    const echo = await start(createEchoServer());
    const proxy = await start(fakeProxy('HTTP/1.1 200 Connection established\r\n\r\n'));
    const socket = await openStream({ kind: 'proxy', port: proxy }, { host: '127.0.0.1', port: echo }, 2_000);
    await echoRoundTrip(socket, 2_000);
    socket.destroy();
  });

  it('rejects a refused CONNECT with the status line', async () => {
    const proxy = await start(fakeProxy('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n'));
    await expect(openStream({ kind: 'proxy', port: proxy }, { host: '127.0.0.1', port: 9 }, 2_000)).rejects.toThrow(
      /403 Forbidden/,
    );
  });

  it('rejects bytes that arrive before the client has sent any', async () => {
    const proxy = await start(fakeProxy('HTTP/1.1 200 OK\r\n\r\nsurprise'));
    await expect(openStream({ kind: 'proxy', port: proxy }, { host: '127.0.0.1', port: 9 }, 2_000)).rejects.toThrow(
      /unexpected bytes/,
    );
  });

  it('rejects when the proxy never answers', async () => {
    const silent = await start(net.createServer((client) => client.on('error', () => undefined)));
    await expect(openStream({ kind: 'proxy', port: silent }, { host: '127.0.0.1', port: 9 }, 200)).rejects.toThrow(
      /no stream within 200 ms/,
    );
  });
});
