/**
 * Load client: pushes `bytes` through one stream to the sink server (client → server direction) and reports
 * the elapsed time from the first payload byte to the sink's acknowledgement that it received them all.
 * Wire format understood by upstream/sink-server.ts: an 8-byte big-endian length, the payload, then the
 * sink answers one byte. No half-close is needed, which some proxies do not relay.
 */
import { once } from 'node:events';
import type { Socket } from 'node:net';
import { throughputArgsSchema, type ThroughputArgs, type ThroughputResult } from '../protocol.js';
import { runClientMain } from './child-main.js';
import { openStream } from './open-stream.js';

/** Large enough that per-write overhead is negligible, small enough to stay in cache. */
const CHUNK = Buffer.alloc(256 * 1024, 0x61);

function waitForAck(socket: Socket): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.once('data', () => resolve());
    socket.once('error', reject);
    socket.once('close', () => reject(new Error('stream closed before the sink acknowledged')));
    socket.resume();
  });
}

async function writeAll(socket: Socket, bytes: number): Promise<void> {
  for (let left = bytes; left > 0; left -= CHUNK.length) {
    const chunk = left >= CHUNK.length ? CHUNK : CHUNK.subarray(0, left);
    if (!socket.write(chunk)) await once(socket, 'drain');
  }
}

async function pushThrough(args: ThroughputArgs): Promise<ThroughputResult> {
  const socket = await openStream(args.route, args.sink, args.timeoutMs);
  const timer = setTimeout(() => socket.destroy(new Error(`not done within ${args.timeoutMs} ms`)), args.timeoutMs);
  try {
    const acknowledged = waitForAck(socket);
    const header = Buffer.alloc(8);
    header.writeBigUInt64BE(BigInt(args.bytes));
    const begin = performance.now();
    socket.write(header);
    await Promise.all([writeAll(socket, args.bytes), acknowledged]);
    return { bytes: args.bytes, seconds: (performance.now() - begin) / 1000 };
  } finally {
    clearTimeout(timer);
    socket.destroy();
  }
}

runClientMain(throughputArgsSchema, pushThrough);
