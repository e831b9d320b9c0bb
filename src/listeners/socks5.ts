import net from 'node:net';
import type { ClientCredentials } from '../identity/identify.js';
import { splitUserTags } from '../identity/tags.js';
import type { Admission, Pipeline } from '../pipeline/pipeline.js';
import {
  AUTH_VERSION,
  Command,
  Method,
  Reply,
  encodeReply,
  parseGreeting,
  parseRequest,
  parseUserPassword,
  type Parsed,
} from './socks5-messages.js';

/**
 * The SOCKS5 entry (RFC 1928): no-auth or user/password (RFC 1929), CONNECT to domain, IPv4 or IPv6
 * targets. BIND and UDP ASSOCIATE are refused with "command not supported". The handshake must finish
 * within the header timeout; bytes the client sends after its request are kept and forwarded.
 */

export interface Socks5Options {
  handshakeTimeoutMs: number;
}

export function createSocks5Server(pipeline: Pipeline, options: Socks5Options): net.Server {
  return net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
    socket.on('error', () => socket.destroy());
    socket.setTimeout(options.handshakeTimeoutMs, () => socket.destroy());
    void handshake(pipeline, socket).catch(() => socket.destroy());
  });
}

/**
 * Reads the socket until `parse` yields a message; bytes beyond it stay buffered for the next one. Memory
 * stays bounded without a limit of its own: every handshake message has a bounded length (513 bytes at
 * most), so a parser decides after at most that many bytes, and the reader is detached after the request.
 */
class Reader {
  private buffer: Buffer = Buffer.alloc(0);
  private waiting: (() => void) | undefined;
  private ended = false;
  private readonly onData = (chunk: Buffer): void => {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    this.waiting?.();
  };

  constructor(private readonly socket: net.Socket) {
    socket.on('data', this.onData);
    socket.on('close', () => {
      this.ended = true;
      this.waiting?.();
    });
  }

  async next<T>(parse: (buffer: Buffer) => Parsed<T>): Promise<{ value: T } | { error: string; reply?: number }> {
    for (;;) {
      const parsed = parse(this.buffer);
      if (parsed && 'error' in parsed) return parsed;
      if (parsed) {
        this.buffer = this.buffer.subarray(parsed.used);
        return { value: parsed.value };
      }
      if (this.ended) return { error: 'client closed during the SOCKS5 handshake' };
      await new Promise<void>((resolve) => (this.waiting = resolve));
      this.waiting = undefined;
    }
  }

  /**
   * Stops reading and hands back what the client sent beyond the handshake. The socket stays paused, so
   * whatever the client sends next waits in the socket (TCP backpressure) rather than in memory here.
   */
  detach(): Buffer {
    this.socket.off('data', this.onData);
    this.socket.pause();
    return this.buffer;
  }
}

async function handshake(pipeline: Pipeline, socket: net.Socket): Promise<void> {
  const reader = new Reader(socket);
  const greeting = await reader.next(parseGreeting);
  if ('error' in greeting) return void socket.destroy();

  let credentials: ClientCredentials | undefined;
  const methods = greeting.value.methods;
  if (methods.includes(Method.USER_PASSWORD)) {
    socket.write(Buffer.from([0x05, Method.USER_PASSWORD]));
    const login = await reader.next(parseUserPassword);
    if ('error' in login) return void socket.end(Buffer.from([AUTH_VERSION, 0x01]));
    credentials = login.value;
    // RFC 1929 wants the verdict on the credentials now, before the request.
    const user = splitUserTags(login.value.user).user;
    const identity = pipeline.policy.identities.identify(socket.remoteAddress ?? '', { user, password: login.value.password });
    if (identity.kind === 'bad-credentials') {
      pipeline.reportBadCredentials({ entry: 'socks5', client: clientOf(socket) }, user);
      return void socket.end(Buffer.from([AUTH_VERSION, 0x01]));
    }
    socket.write(Buffer.from([AUTH_VERSION, 0x00]));
  } else if (methods.includes(Method.NO_AUTH) && mayOmitCredentials(pipeline, socket)) {
    socket.write(Buffer.from([0x05, Method.NO_AUTH]));
  } else {
    return void socket.end(Buffer.from([0x05, Method.NO_ACCEPTABLE]));
  }

  const request = await reader.next(parseRequest);
  if ('error' in request) return void socket.end(encodeReply(request.reply ?? Reply.GENERAL_FAILURE));
  // Everything after the request is the client's payload (optimistic clients send it without waiting for
  // the reply): it is held, not read, while the flow is decided and dialled.
  const early = reader.detach();
  if (request.value.command !== Command.CONNECT) return refuse(socket, Reply.COMMAND_NOT_SUPPORTED);
  const admission = await pipeline.admit({
    entry: 'socks5',
    client: clientOf(socket),
    target: { host: request.value.host, port: request.value.port },
    ...(credentials ? { credentials } : {}),
  });
  if (admission.kind !== 'admitted') return refuse(socket, replyForAdmission(admission));
  if (socket.destroyed) {
    pipeline.close(admission.flow, { outcome: 'failure', reason: 'client went away before the tunnel opened' });
    return;
  }
  socket.setTimeout(0);
  // Success is answered before anything is dialled (the bound address is not known yet, so it is
  // zeros, which clients ignore): the agent's first bytes decide whether it is dialled at all.
  await pipeline.tunnel(admission.flow, socket, early, () => socket.write(encodeReply(Reply.SUCCEEDED)));
}

/** Answers a request with a failure reply and closes, discarding any payload the client sent with it. */
function refuse(socket: net.Socket, reply: number): void {
  // A paused socket would never read the client's own close, and so never finish closing.
  socket.resume();
  socket.end(encodeReply(reply));
}

/**
 * `require_credentials` binds only clients that no agent claims by source address, as on the HTTP entry;
 * the pipeline checks again at admission, against the rules in force then.
 */
function mayOmitCredentials(pipeline: Pipeline, socket: net.Socket): boolean {
  const policy = pipeline.policy;
  return !policy.ruleSet.requireCredentials || policy.identities.bySource(socket.remoteAddress ?? '') !== undefined;
}

function replyForAdmission(admission: Exclude<Admission, { kind: 'admitted' }>): number {
  switch (admission.kind) {
    case 'denied':
    case 'auth':
      return Reply.NOT_ALLOWED_BY_RULESET;
    case 'unresolvable':
      return Reply.HOST_UNREACHABLE;
    case 'invalid':
    case 'limited':
      return Reply.GENERAL_FAILURE;
  }
}

function clientOf(socket: net.Socket): { address: string; port: number } {
  return { address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 };
}
