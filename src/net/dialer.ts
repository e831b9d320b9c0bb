import net from 'node:net';

/**
 * Dials the vetted addresses in order (the resolver's order, IPv4 and IPv6 as they came) until one
 * answers. Only addresses that passed the policy are ever given to this function.
 */

export type DialResult =
  | { ok: true; socket: net.Socket; address: string }
  | { ok: false; code: 'ECONNREFUSED' | 'ETIMEDOUT' | 'EHOSTUNREACH' | 'ERROR'; message: string };

export async function dialFirst(addresses: readonly string[], port: number, timeoutMs: number): Promise<DialResult> {
  let last: DialResult = { ok: false, code: 'ERROR', message: 'no address to dial' };
  const deadline = Date.now() + timeoutMs;
  for (const address of addresses) {
    const remaining = deadline - Date.now();
    if (remaining <= 0) return { ok: false, code: 'ETIMEDOUT', message: `connect to port ${port} timed out` };
    last = await dialOne(address, port, remaining);
    if (last.ok) return last;
  }
  return last;
}

function dialOne(address: string, port: number, timeoutMs: number): Promise<DialResult> {
  return new Promise((resolve) => {
    // allowHalfOpen: a client's FIN is forwarded as a FIN, not turned into a full close.
    const socket = net.connect({ host: address, port, allowHalfOpen: true, noDelay: true });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ ok: false, code: 'ETIMEDOUT', message: `connect to ${display(address, port)} timed out after ${timeoutMs} ms` });
    }, timeoutMs);
    const onError = (error: NodeJS.ErrnoException): void => {
      clearTimeout(timer);
      socket.destroy();
      const code = error.code === 'ECONNREFUSED' || error.code === 'EHOSTUNREACH' ? error.code : 'ERROR';
      resolve({ ok: false, code, message: `connect to ${display(address, port)} failed: ${error.code ?? error.message}` });
    };
    socket.once('error', onError);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.off('error', onError);
      // Until the relay takes the socket over, a late error must not crash the process; it still
      // destroys the socket, which the relay sees as a close.
      socket.on('error', ignoreUntilRelayed);
      resolve({ ok: true, socket, address });
    });
  });
}

export function display(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

function ignoreUntilRelayed(): void {}
