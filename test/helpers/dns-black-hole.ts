import dgram from 'node:dgram';

/**
 * A UDP "resolver" that takes every query and never answers (as a tunnel's own authoritative server
 * may): upstream queries to it stay pending until the forwarder's timeout. Records what it was asked.
 */
export interface DnsBlackHole {
  port: number;
  /** Queries received so far. */
  received: () => number;
  /** Resolves once `count` queries have arrived. */
  waitForQueries(count: number): Promise<void>;
  close(): Promise<void>;
}

export async function dnsBlackHole(): Promise<DnsBlackHole> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  let received = 0;
  const waiters: Array<{ count: number; resolve: () => void }> = [];
  socket.on('message', () => {
    received += 1;
    for (const waiter of [...waiters]) {
      if (received >= waiter.count) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    }
  });
  return {
    port: socket.address().port,
    received: () => received,
    waitForQueries: (count) => (received >= count ? Promise.resolve() : new Promise((resolve) => waiters.push({ count, resolve }))),
    close: () => new Promise((resolve) => socket.close(() => resolve())),
  };
}
