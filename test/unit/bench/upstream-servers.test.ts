import type net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createEchoServer } from '../../../bench/upstream/echo-server.js';
import { createHttpOriginServer } from '../../../bench/upstream/http-origin-server.js';
import { createSinkServer } from '../../../bench/upstream/sink-server.js';
import { exchange, TestServers } from './socket-helpers.js';

const servers = new TestServers();
const start = (server: net.Server): Promise<number> => servers.start(server);
afterEach(() => servers.stopAll());

function lengthHeader(bytes: number): Buffer {
  const header = Buffer.alloc(8);
  header.writeBigUInt64BE(BigInt(bytes));
  return header;
}

describe('sink server', () => {
  it('acknowledges once the announced payload has arrived, header and payload split anyhow', async () => {
    const port = await start(createSinkServer());
    const message = Buffer.concat([lengthHeader(10_000), Buffer.alloc(10_000, 7)]);
    const chunks = [message.subarray(0, 3), message.subarray(3, 8 + 4_000), message.subarray(8 + 4_000)];
    const answer = await exchange(port, chunks, (received) => received.length >= 1);
    expect([...answer]).toEqual([1]);
  });

  it('does not acknowledge a partial payload', async () => {
    const port = await start(createSinkServer());
    const partial = exchange(port, [lengthHeader(100), Buffer.alloc(99)], (received) => received.length >= 1);
    const outcome = await Promise.race([partial.then(() => 'acknowledged'), new Promise((r) => setTimeout(() => r('silent'), 300))]);
    expect(outcome).toBe('silent');
  });
});

describe('echo server', () => {
  it('sends every byte back', async () => {
    const port = await start(createEchoServer());
    const answer = await exchange(port, [Buffer.from('ping'), Buffer.from('\n')], (received) => received.length >= 5);
    expect(answer.toString()).toBe('ping\n');
  });
});

describe('HTTP origin server', () => {
  const request = 'GET http://127.0.0.1/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n';
  const responses = (received: Buffer): number => received.toString('latin1').split('HTTP/1.1 200 OK').length - 1;

  it('answers one 200 per request head, pipelined and split across segments', async () => {
    const port = await start(createHttpOriginServer());
    const wire = Buffer.from(request.repeat(3));
    // Split inside the second head's blank line, so the end marker straddles two segments.
    const cut = request.length * 2 - 2;
    const answer = await exchange(port, [wire.subarray(0, cut), wire.subarray(cut)], (received) => responses(received) >= 3);
    expect(responses(answer)).toBe(3);
    expect(answer.toString('latin1')).toMatch(/Content-Length: \d+\r\n/);
  });
});
