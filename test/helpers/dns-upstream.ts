import dgram from 'node:dgram';
import net, { type AddressInfo } from 'node:net';
import { frame, readFrames } from '../../src/dns/tcp-framing.js';
import { dnsPacket, RCODE, type DnsRecord } from '../../src/dns/wire.js';

/**
 * A small real authoritative-style DNS responder on loopback (UDP and TCP on one port), answering from
 * a zone given as records, and recording every question it was asked: a test can prove that a denied
 * name never reached it. Names listed in `truncateOverUdp` answer over UDP with TC set and no records,
 * so the asker must come back over TCP.
 */
export interface DnsUpstream {
  port: number;
  /** "name TYPE transport", lower-case names, in arrival order. */
  asked: string[];
  askedFor(name: string): boolean;
  close(): Promise<void>;
}

export interface ZoneOptions {
  records: DnsRecord[];
  truncateOverUdp?: string[];
  /** Names answered with SERVFAIL (for failover tests). */
  servfail?: string[];
}

export async function dnsUpstream(zone: ZoneOptions): Promise<DnsUpstream> {
  const { udp, tcp, port } = await bindUdpAndTcp();
  const asked: string[] = [];
  const sockets = new Set<net.Socket>();

  const respond = (bytes: Buffer, transport: 'udp' | 'tcp'): Buffer | undefined => {
    let query: dnsPacket.DecodedPacket;
    try {
      query = dnsPacket.decode(bytes);
    } catch {
      return undefined;
    }
    const question = query.questions?.[0];
    if (question === undefined) return undefined;
    const name = question.name.toLowerCase();
    asked.push(`${name} ${String(question.type)} ${transport}`);
    const truncate = transport === 'udp' && (zone.truncateOverUdp ?? []).includes(name);
    const servfail = (zone.servfail ?? []).includes(name);
    const answers = truncate || servfail ? [] : answersFor(zone.records, name, String(question.type));
    const exists = zone.records.some((record) => record.name.toLowerCase() === name);
    const rcode = servfail ? RCODE.SERVFAIL : exists ? RCODE.NOERROR : RCODE.NXDOMAIN;
    return dnsPacket.encode({
      type: 'response',
      id: query.id ?? 0,
      flags: dnsPacket.RECURSION_AVAILABLE | dnsPacket.AUTHORITATIVE_ANSWER | (truncate ? dnsPacket.TRUNCATED_RESPONSE : 0) | rcode,
      questions: [question],
      answers,
    });
  };

  udp.on('message', (bytes, remote) => {
    const answer = respond(bytes, 'udp');
    if (answer) udp.send(answer, remote.port, remote.address);
  });
  tcp.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    readFrames(socket, 65535, (message) => {
      const answer = respond(Buffer.from(message), 'tcp');
      if (answer) socket.write(frame(answer));
    });
  });

  return {
    port,
    asked,
    askedFor: (name) => asked.some((entry) => entry.startsWith(`${name.toLowerCase()} `)),
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await Promise.all([new Promise<void>((resolve) => tcp.close(() => resolve())), new Promise<void>((resolve) => udp.close(() => resolve()))]);
    },
  };
}

/**
 * A UDP socket and a TCP server on one loopback port. The port is picked for UDP; its TCP twin may be
 * taken meanwhile by anything binding port 0 (other tests run alongside), so a few fresh ports are tried.
 */
async function bindUdpAndTcp(): Promise<{ udp: dgram.Socket; tcp: net.Server; port: number }> {
  for (let attempt = 1; ; attempt += 1) {
    const udp = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => udp.bind(0, '127.0.0.1', resolve));
    const port = udp.address().port;
    const tcp = net.createServer();
    try {
      await new Promise<void>((resolve, reject) => {
        tcp.once('error', reject);
        tcp.listen(port, '127.0.0.1', resolve);
      });
      return { udp, tcp, port };
    } catch (error) {
      await new Promise<void>((resolve) => udp.close(() => resolve()));
      if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt === 10) throw error;
    }
  }
}

/** The records for `name` of `type`, following CNAMEs inside the zone like a recursive resolver would. */
function answersFor(records: readonly DnsRecord[], name: string, type: string): DnsRecord[] {
  const found: DnsRecord[] = [];
  let current = name;
  for (let depth = 0; depth < 8; depth += 1) {
    const here = records.filter((record) => record.name.toLowerCase() === current);
    const direct = here.filter((record) => record.type === type);
    if (direct.length > 0) return [...found, ...direct];
    const alias = here.find((record) => record.type === 'CNAME');
    if (alias === undefined || alias.type !== 'CNAME') return found;
    found.push(alias);
    current = alias.data.toLowerCase();
  }
  return found;
}

/** A UDP port nothing listens on (bound then closed): queries to it fail at once (ICMP unreachable). */
export async function deadUdpPort(): Promise<number> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const { port } = socket.address() as AddressInfo;
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}

/** Runs `dig` against a server and returns its output. */
export async function dig(port: number, args: string[]): Promise<string> {
  const { execFile } = await import('node:child_process');
  return new Promise((resolve, reject) => {
    execFile('dig', ['@127.0.0.1', '-p', String(port), '+tries=1', '+time=10', ...args], { timeout: 30_000 }, (error, stdout) => {
      // dig exits 0 for every answer, including NXDOMAIN / REFUSED; 9 is "no reply".
      if (error && stdout === '') reject(error);
      else resolve(stdout);
    });
  });
}
