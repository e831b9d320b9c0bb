/**
 * Asks the configured upstream resolvers, in order: a server that times out, cannot be reached or
 * answers SERVFAIL / REFUSED is skipped for the next one (failover); a truncated UDP answer is asked
 * again over TCP. Every query leaves with a fresh random id and our own EDNS0 record (none of the
 * client's options travel upstream), and an answer is only accepted from the server asked, with that
 * id and that question: anything else on the socket is ignored (spoofing, stray packets).
 */
import { randomInt } from 'node:crypto';
import dgram from 'node:dgram';
import net from 'node:net';
import { dnsPacket, OUR_UDP_SIZE, RCODE, rcodeOf, type DnsRecord } from './wire.js';
import { readFrames, frame } from './tcp-framing.js';

export interface UpstreamServer {
  host: string;
  port: number;
}

/** What an upstream said: its rcode and the records of its answer and authority sections. */
export type UpstreamAnswer =
  | { ok: true; rcode: number; answers: DnsRecord[]; authorities: DnsRecord[]; server: string }
  | { ok: false; reason: string };

type Attempt = { kind: 'answer'; message: dnsPacket.DecodedPacket } | { kind: 'truncated' } | { kind: 'failed'; reason: string };

/** Ends a pending attempt now (the forwarder is closing). */
type AbortAttempt = (attempt: Attempt) => void;

const STOPPING = 'the proxy is stopping';

export class UpstreamForwarder {
  /** Attempts waiting for an upstream: a stop ends them at once instead of after their timeout. */
  private readonly pending = new Set<AbortAttempt>();
  private closed = false;

  constructor(
    private readonly servers: readonly UpstreamServer[],
    private readonly timeoutMs: number,
  ) {}

  /** Fails every query still waiting for an upstream and every later one (their sockets and timers closed). */
  close(): void {
    this.closed = true;
    for (const abort of [...this.pending]) abort({ kind: 'failed', reason: STOPPING });
  }

  async ask(name: string, type: string): Promise<UpstreamAnswer> {
    const failures: string[] = [];
    let fallback: UpstreamAnswer | undefined;
    for (const server of this.servers) {
      if (this.closed) return { ok: false, reason: STOPPING };
      const where = describe(server);
      const id = randomInt(0x10000);
      const query = encodeQuery(id, name, type);
      let attempt = await askUdp(server, query, id, name, type, this.timeoutMs, this.pending);
      if (attempt.kind === 'truncated' && !this.closed) attempt = await askTcp(server, query, id, name, type, this.timeoutMs, this.pending);
      if (this.closed) return { ok: false, reason: STOPPING };
      if (attempt.kind === 'failed' || attempt.kind === 'truncated') {
        failures.push(`${where}: ${attempt.kind === 'failed' ? attempt.reason : 'truncated over TCP too'}`);
        continue;
      }
      const rcode = rcodeOf(attempt.message);
      if (rcode === RCODE.SERVFAIL || rcode === RCODE.REFUSED) {
        failures.push(`${where}: ${rcode === RCODE.SERVFAIL ? 'SERVFAIL' : 'REFUSED'}`);
        fallback ??= answerOf(attempt.message, where);
        continue;
      }
      return answerOf(attempt.message, where);
    }
    return fallback ?? { ok: false, reason: failures.length > 0 ? failures.join('; ') : 'no upstream resolver is configured' };
  }
}

function answerOf(message: dnsPacket.DecodedPacket, server: string): UpstreamAnswer {
  return { ok: true, rcode: rcodeOf(message), answers: message.answers ?? [], authorities: message.authorities ?? [], server };
}

function describe(server: UpstreamServer): string {
  return server.host.includes(':') ? `[${server.host}]:${server.port}` : `${server.host}:${server.port}`;
}

function encodeQuery(id: number, name: string, type: string): Buffer {
  return dnsPacket.encode({
    type: 'query',
    id,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ name, type: type as dnsPacket.RecordType, class: 'IN' }],
    additionals: [{ type: 'OPT', name: '.', udpPayloadSize: OUR_UDP_SIZE, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] }],
  });
}

/** The upstream's answer to exactly our question, or undefined for anything else. */
function matching(bytes: Buffer, id: number, name: string, type: string): dnsPacket.DecodedPacket | undefined {
  if (bytes.length < 12 || bytes.readUInt16BE(0) !== id) return undefined;
  let message: dnsPacket.DecodedPacket;
  try {
    message = dnsPacket.decode(bytes);
  } catch {
    return undefined;
  }
  const question = message.questions?.[0];
  if (!message.flag_qr || message.questions?.length !== 1 || question === undefined) return undefined;
  if (question.name.toLowerCase() !== name.toLowerCase() || String(question.type) !== type) return undefined;
  return message;
}

function askUdp(server: UpstreamServer, query: Buffer, id: number, name: string, type: string, timeoutMs: number, pending: Set<AbortAttempt>): Promise<Attempt> {
  return new Promise((resolve) => {
    const socket = dgram.createSocket(net.isIPv6(server.host) ? 'udp6' : 'udp4');
    const finish = settleOnce(resolve, pending, timeoutMs, `no answer within ${timeoutMs} ms`, () => {
      socket.removeAllListeners('message');
      socket.on('error', () => {});
      try {
        socket.close();
      } catch {
        // Already closed.
      }
    });
    socket.on('error', (error: NodeJS.ErrnoException) => finish({ kind: 'failed', reason: error.code ?? error.message }));
    socket.on('message', (bytes) => {
      const message = matching(bytes, id, name, type);
      if (message === undefined) return;
      finish(message.flag_tc ? { kind: 'truncated' } : { kind: 'answer', message });
    });
    // A connected socket only receives from the server it asked.
    socket.connect(server.port, server.host, () => socket.send(query));
  });
}

function askTcp(server: UpstreamServer, query: Buffer, id: number, name: string, type: string, timeoutMs: number, pending: Set<AbortAttempt>): Promise<Attempt> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: server.host, port: server.port });
    const finish = settleOnce(resolve, pending, timeoutMs, `no answer over TCP within ${timeoutMs} ms`, () => socket.destroy());
    socket.on('error', (error: NodeJS.ErrnoException) => finish({ kind: 'failed', reason: `TCP ${error.code ?? error.message}` }));
    socket.on('close', () => finish({ kind: 'failed', reason: 'TCP connection closed before an answer' }));
    socket.on('connect', () => socket.write(frame(query)));
    readFrames(socket, 65535, (bytes) => {
      const message = matching(bytes, id, name, type);
      if (message !== undefined) finish({ kind: 'answer', message });
    });
  });
}

/**
 * The one way an upstream attempt ends, whichever comes first — an answer, an error, its deadline, or the
 * listener stopping (`pending` holds it until then): the socket is released and the promise settled once.
 */
function settleOnce(resolve: (attempt: Attempt) => void, pending: Set<AbortAttempt>, timeoutMs: number, timeoutReason: string, release: () => void): AbortAttempt {
  let done = false;
  const finish = (attempt: Attempt): void => {
    if (done) return;
    done = true;
    pending.delete(finish);
    clearTimeout(timer);
    release();
    resolve(attempt);
  };
  const timer = setTimeout(() => finish({ kind: 'failed', reason: timeoutReason }), timeoutMs);
  pending.add(finish);
  return finish;
}
