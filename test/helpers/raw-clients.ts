import net from 'node:net';

/**
 * Byte-level proxy clients for integration tests that need to hold a tunnel open, half-close it, or send
 * what no well-behaved client would. Every function settles on a socket event, never on a sleep.
 */

export interface ConnectAnswer {
  status: number;
  /** The response head (status line and headers) as text. */
  head: string;
  /** For a refusal: the body up to the proxy's close. Empty for 200. */
  body: string;
  /** For 200: the open tunnel, positioned after the answer. For a refusal: the closed socket. */
  socket: net.Socket;
}

export interface ClientOptions {
  /** Bind the client to this loopback address (127.0.0.2, ...) so it counts as another source. */
  localAddress?: string;
  /** Extra request headers, e.g. Proxy-Authorization. */
  headers?: Record<string, string>;
}

/** Opens a socket to `port` on loopback and resolves once it is connected. */
export function connectTo(port: number, localAddress?: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port, ...(localAddress ? { localAddress } : {}) });
    socket.once('error', reject);
    socket.once('connect', () => {
      socket.off('error', reject);
      resolve(socket);
    });
  });
}

/** Sends `CONNECT authority` and reads the proxy's answer; a 200 leaves the tunnel open. */
export async function connectTunnel(proxyPort: number, authority: string, options: ClientOptions = {}): Promise<ConnectAnswer> {
  const socket = await connectTo(proxyPort, options.localAddress);
  const headers = Object.entries({ host: authority, ...options.headers })
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('');
  socket.write(`CONNECT ${authority} HTTP/1.1\r\n${headers}\r\n`);
  const { head, rest } = await readHead(socket);
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0);
  if (status === 200) {
    if (rest.length > 0) socket.unshift(rest);
    return { status, head, body: '', socket };
  }
  const body = Buffer.concat([rest, await readToEnd(socket)]).toString('utf8');
  return { status, head, body, socket };
}

/** Reads up to the blank line that ends an HTTP head; bytes after it are handed back as `rest`. */
export function readHead(socket: net.Socket): Promise<{ head: string; rest: Buffer }> {
  return new Promise((resolve, reject) => {
    let buffered = Buffer.alloc(0);
    const cleanup = (): void => {
      socket.off('data', onData);
      socket.off('close', onClose);
      socket.off('error', onError);
    };
    const onData = (chunk: Buffer): void => {
      buffered = Buffer.concat([buffered, chunk]);
      const end = buffered.indexOf('\r\n\r\n');
      if (end < 0) return;
      cleanup();
      socket.pause();
      resolve({ head: buffered.subarray(0, end).toString('latin1'), rest: buffered.subarray(end + 4) });
    };
    const onClose = (): void => {
      cleanup();
      reject(new Error(`connection closed before a complete answer head; got ${JSON.stringify(buffered.toString('latin1'))}`));
    };
    const onError = (error: Error): void => {
      cleanup();
      reject(error);
    };
    socket.on('data', onData);
    socket.on('close', onClose);
    socket.on('error', onError);
  });
}

/** Everything the peer sends until it closes; a reset after data still resolves with the data. */
export function readToEnd(socket: net.Socket): Promise<Buffer> {
  if (socket.closed) return Promise.resolve(Buffer.alloc(0));
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', () => undefined);
    socket.once('close', () => resolve(Buffer.concat(chunks)));
    socket.resume();
  });
}

/** Writes `payload` and resolves with the first `payload.length` bytes that come back. */
export function echoRoundTrip(socket: net.Socket, payload: Buffer | string): Promise<Buffer> {
  const expected = Buffer.from(payload);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    const cleanup = (): void => {
      socket.off('data', onData);
      socket.off('close', onClose);
    };
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      received += chunk.length;
      if (received < expected.length) return;
      cleanup();
      socket.pause();
      resolve(Buffer.concat(chunks));
    };
    const onClose = (): void => {
      cleanup();
      reject(new Error(`tunnel closed after ${received} of ${expected.length} echoed bytes`));
    };
    socket.on('data', onData);
    socket.on('close', onClose);
    socket.resume();
    socket.write(expected);
  });
}

/** Resolves when the socket is fully closed (at once if it already is). */
export function whenClosed(socket: net.Socket): Promise<void> {
  if (socket.closed) return Promise.resolve();
  return new Promise((resolve) => socket.once('close', () => resolve()));
}

/** Sends raw bytes to `port` and collects everything the proxy answers until it closes the connection. */
export async function sendRaw(port: number, bytes: Buffer | string): Promise<Buffer> {
  const socket = await connectTo(port);
  const answer = readToEnd(socket);
  socket.write(bytes);
  return answer;
}

export interface SocksAnswer {
  /** The REP byte of the SOCKS5 reply (0 = succeeded). */
  reply: number;
  /** Open tunnel after a success; closed otherwise. */
  socket: net.Socket;
}

/** A SOCKS5 no-auth CONNECT to a domain target; resolves with the reply code. */
export async function socks5Connect(proxyPort: number, host: string, port: number): Promise<SocksAnswer> {
  const socket = await connectTo(proxyPort);
  const reader = new ByteReader(socket);
  socket.write(Buffer.from([0x05, 0x01, 0x00]));
  const choice = await reader.take(2);
  if (choice[1] !== 0x00) throw new Error(`proxy chose SOCKS5 method ${choice[1]}, not no-auth`);
  const name = Buffer.from(host, 'ascii');
  const portBytes = Buffer.from([port >> 8, port & 0xff]);
  socket.write(Buffer.concat([Buffer.from([0x05, 0x01, 0x00, 0x03, name.length]), name, portBytes]));
  const fixed = await reader.take(5);
  const addressLength = fixed[3] === 0x01 ? 4 : fixed[3] === 0x04 ? 16 : (fixed[4] ?? 0) + 1;
  // The reply's bound address: 4 or 16 bytes (one of them already read as `fixed[4]`), or a name.
  await reader.take(addressLength - 1 + 2);
  reader.release();
  return { reply: fixed[1] ?? -1, socket };
}

/** Reads exact byte counts from a socket, then gives the socket back untouched. */
class ByteReader {
  private buffered = Buffer.alloc(0);
  private wake: (() => void) | undefined;
  private ended = false;
  private readonly onData = (chunk: Buffer): void => {
    this.buffered = Buffer.concat([this.buffered, chunk]);
    this.wake?.();
  };
  private readonly onClose = (): void => {
    this.ended = true;
    this.wake?.();
  };

  constructor(private readonly socket: net.Socket) {
    socket.on('data', this.onData);
    socket.on('close', this.onClose);
    socket.on('error', () => undefined);
  }

  async take(count: number): Promise<Buffer> {
    while (this.buffered.length < count) {
      if (this.ended) throw new Error(`connection closed after ${this.buffered.length} of ${count} expected bytes`);
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = undefined;
    }
    const taken = this.buffered.subarray(0, count);
    this.buffered = this.buffered.subarray(count);
    return taken;
  }

  release(): void {
    this.socket.off('data', this.onData);
    this.socket.off('close', this.onClose);
    this.socket.pause();
    if (this.buffered.length > 0) this.socket.unshift(this.buffered);
  }
}
