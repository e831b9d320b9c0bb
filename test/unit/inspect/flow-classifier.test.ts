import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FlowClassifier } from '../../../src/inspect/flow-classifier.js';
import type { Detection, Direction, ProtocolName } from '../../../src/inspect/types.js';
import { CHUNKINGS, type Chunking, type Step } from '../../fixtures/stratum/harness.js';
import {
  ETH_BLOCK_NUMBER,
  GETWORK_BODY,
  httpRequest,
  httpResponse,
  NICEHASH_SUBSCRIBE,
  XMRIG_LOGIN,
} from '../../fixtures/stratum/messages.js';
import { bodyFromVector, handshakeMessage, hexFixture, tlsRecords } from '../../fixtures/tls/client-hello-builder.js';
import { clientFrame } from './websocket-frames.js';

// ---- first bytes of real-looking flows ---------------------------------------------------------

const NODE_CLIENT_HELLO = hexFixture(readFileSync(new URL('../../fixtures/tls/node20-tls-connect.hex', import.meta.url), 'utf8'));
/** A hello for pool.example.net split over three records, as some clients and middleboxes send it. */
const FRAGMENTED_CLIENT_HELLO = tlsRecords(
  handshakeMessage(bodyFromVector({ cipherSuites: [0x1301, 0x1302], extensionTypes: [0x0000, 0x0010, 0x002b], serverName: 'pool.example.net', alpn: ['h2'], supportedVersions: [0x0304, 0x0303] })),
  [40, 40],
);

const SSH_CLIENT_BANNER = 'SSH-2.0-OpenSSH_9.6\r\n';
const SSH_SERVER_BANNER = 'SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u5\r\n';

/** A cleartext SSH binary packet (RFC 4253 §6): padding of at least 4, total a multiple of 8. */
function sshPacket(payload: readonly number[]): Buffer {
  let padding = 8 - ((5 + payload.length) % 8);
  if (padding < 4) padding += 8;
  const packet = Buffer.alloc(5 + payload.length + padding);
  packet.writeUInt32BE(1 + payload.length + padding, 0);
  packet[4] = padding;
  Buffer.from(payload).copy(packet, 5);
  return packet;
}

function nameList(names: string): number[] {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(names.length);
  return [...length, ...Buffer.from(names, 'latin1')];
}

const KEXINIT = sshPacket([
  20,
  ...Buffer.alloc(16, 0x11), // cookie
  ...nameList('curve25519-sha256'),
  ...nameList('ssh-ed25519'),
  ...nameList('aes128-ctr'),
  ...nameList('aes128-ctr'),
  ...nameList('hmac-sha2-256'),
  ...nameList('hmac-sha2-256'),
  ...nameList('none'),
  ...nameList('none'),
  ...nameList(''),
  ...nameList(''),
  0, // first_kex_packet_follows
  0, 0, 0, 0, // reserved
]);
const KEX_ECDH_INIT = sshPacket([30, ...Buffer.alloc(36, 0x42)]);
const KEX_ECDH_REPLY = sshPacket([31, ...Buffer.alloc(36, 0x43)]);
const NEWKEYS = sshPacket([21]);

const HTTP2_PREFACE_AND_SETTINGS = Buffer.concat([
  Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1'),
  Buffer.from([0, 0, 6, 0x04, 0, 0, 0, 0, 0, 0, 0x03, 0, 0, 0, 0x64]), // SETTINGS MAX_CONCURRENT_STREAMS=100
]);

/** 04 CONNECT port 3333 to 203.0.113.7, user id "miner-rig-0001" (longer than the greeting itself). */
const SOCKS4_CONNECT = Buffer.concat([Buffer.from([0x04, 0x01, 0x0d, 0x05, 203, 0, 113, 7]), Buffer.from('miner-rig-0001\0', 'latin1')]);
const PROXY_V2_HEADER = Buffer.from([
  0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a, // signature
  0x21, 0x11, 0x00, 0x0c, // v2 PROXY, TCP over IPv4, 12 address bytes
  10, 0, 0, 1, 203, 0, 113, 7, 0x9c, 0x40, 0x01, 0xbb,
]);

const GET = httpRequest('GET', '/index.html', { Host: 'docs.example.org', 'User-Agent': 'curl/8.5.0', Accept: '*/*' });
const OK = httpResponse('200 OK', { 'Content-Type': 'text/plain' }, 'hello\n');

const WEBSOCKET_UPGRADE =
  'GET /socket HTTP/1.1\r\nHost: app.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
  'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n';
const WEBSOCKET_ACCEPTED =
  'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
  'Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n';

const BASH_WITHOUT_TTY =
  'bash: cannot set terminal process group (4242): Inappropriate ioctl for device\nbash: no job control in this shell\n';

const TEN_PAGE_LOADS: Step[] = Array.from({ length: 10 }, (_, i): Step[] => [
  ['up', httpRequest('GET', `/page/${i}`, { Host: 'node.example.org' })],
  ['down', OK],
]).flat();
const GETWORK_REQUEST = httpRequest('POST', '/', { Host: 'node.example.org', 'Content-Type': 'application/json' }, GETWORK_BODY);

// ---- feeding -------------------------------------------------------------------------------------

type Push = [Direction, Buffer];

const toBuffer = (data: string | Buffer): Buffer => (typeof data === 'string' ? Buffer.from(data, 'utf8') : data);

/** The same script as socket reads: one per step, one per byte, or same-direction steps merged. */
function pushesFor(steps: readonly Step[], chunking: Chunking): Push[] {
  const whole = steps.map(([direction, data]): Push => [direction, toBuffer(data)]);
  if (chunking === 'whole') return whole;
  if (chunking === 'bytes') return whole.flatMap(([direction, data]) => [...data].map((byte): Push => [direction, Buffer.from([byte])]));
  const merged: Push[] = [];
  for (const [direction, data] of whole) {
    const last = merged.at(-1);
    if (last !== undefined && last[0] === direction) last[1] = Buffer.concat([last[1], data]);
    else merged.push([direction, data]);
  }
  return merged;
}

interface Fed {
  classifier: FlowClassifier;
  /** Detections returned by each push, in push order. */
  perPush: Detection[][];
}

function feed(pushes: readonly Push[]): Fed {
  const classifier = new FlowClassifier();
  const perPush = pushes.map(([direction, data], index) => classifier.push(data, direction, index));
  return { classifier, perPush };
}

const feedSteps = (steps: readonly Step[], chunking: Chunking = 'whole'): Fed => feed(pushesFor(steps, chunking));

const typesOf = (detections: readonly Detection[]): Array<Detection['type']> => [...new Set(detections.map((d) => d.type))].sort();

// ---- naming --------------------------------------------------------------------------------------

interface FlowCase {
  name: string;
  steps: Step[];
  protocol: ProtocolName;
  /** Distinct detection types the flow raises. */
  detections: Array<Detection['type']>;
}

const FLOWS: FlowCase[] = [
  { name: 'TLS ClientHello captured from Node 20', steps: [['up', NODE_CLIENT_HELLO]], protocol: 'tls', detections: [] },
  { name: 'TLS ClientHello fragmented over three records', steps: [['up', FRAGMENTED_CLIENT_HELLO]], protocol: 'tls', detections: [] },
  { name: 'SSH identification lines', steps: [['up', SSH_CLIENT_BANNER], ['down', SSH_SERVER_BANNER]], protocol: 'ssh', detections: [] },
  { name: 'SSH banner and KEXINIT in one write', steps: [['up', Buffer.concat([Buffer.from(SSH_CLIENT_BANNER), KEXINIT])]], protocol: 'ssh', detections: [] },
  { name: 'HTTP/1.1 request and response', steps: [['up', GET], ['down', OK]], protocol: 'http', detections: [] },
  { name: 'HTTP/2 prior-knowledge preface', steps: [['up', HTTP2_PREFACE_AND_SETTINGS]], protocol: 'http2', detections: [] },
  { name: 'SOCKS5 greeting', steps: [['up', Buffer.from([0x05, 0x02, 0x00, 0x02])]], protocol: 'socks', detections: ['nested_proxy'] },
  { name: 'SOCKS4 CONNECT with a user id', steps: [['up', SOCKS4_CONNECT]], protocol: 'socks', detections: ['nested_proxy'] },
  { name: 'PROXY protocol v1 before an HTTP request', steps: [['up', `PROXY TCP4 10.0.0.1 203.0.113.7 40000 80\r\n${GET}`]], protocol: 'proxy-protocol', detections: ['nested_proxy'] },
  { name: 'PROXY protocol v2 header', steps: [['up', PROXY_V2_HEADER]], protocol: 'proxy-protocol', detections: ['nested_proxy'] },
  { name: 'Stratum subscribe (NiceHash)', steps: [['up', NICEHASH_SUBSCRIBE]], protocol: 'stratum', detections: ['stratum'] },
  { name: 'XMRig login', steps: [['up', XMRIG_LOGIN]], protocol: 'stratum', detections: ['stratum'] },
  { name: 'JSON-RPC that is not mining, then a mining login', steps: [['up', ETH_BLOCK_NUMBER], ['up', XMRIG_LOGIN]], protocol: 'stratum', detections: ['stratum'] },
  { name: 'bash reverse shell', steps: [['up', BASH_WITHOUT_TTY]], protocol: 'reverse-shell', detections: ['reverse_shell'] },
  { name: 'a line no namer knows', steps: [['up', 'ping 1\n']], protocol: 'unknown', detections: [] },
  { name: 'random binary', steps: [['up', Buffer.from([0x99, 0x12, 0x00, 0xff, 0x3c, 0x81])]], protocol: 'unknown', detections: [] },
  {
    name: 'WebSocket carrying mining.subscribe',
    steps: [['up', WEBSOCKET_UPGRADE], ['down', WEBSOCKET_ACCEPTED], ['up', clientFrame({ opcode: 0x1, payload: NICEHASH_SUBSCRIBE })]],
    protocol: 'websocket',
    detections: ['stratum'],
  },
  {
    name: 'WebSocket carrying mining.subscribe in a binary frame',
    steps: [['up', WEBSOCKET_UPGRADE], ['down', WEBSOCKET_ACCEPTED], ['up', clientFrame({ opcode: 0x2, payload: NICEHASH_SUBSCRIBE })]],
    protocol: 'websocket',
    detections: ['stratum'],
  },
  {
    name: 'WebSocket carrying a binary frame that is not JSON',
    steps: [['up', WEBSOCKET_UPGRADE], ['down', WEBSOCKET_ACCEPTED], ['up', clientFrame({ opcode: 0x2, payload: Buffer.from([0x00, 0x7b, 0x22, 0x6d]) })]],
    protocol: 'websocket',
    detections: [],
  },
  { name: 'getwork after ten harmless requests', steps: [...TEN_PAGE_LOADS, ['up', GETWORK_REQUEST]], protocol: 'http', detections: ['stratum'] },
  {
    name: 'an HTTP upload quoting `id` output',
    steps: [['up', httpRequest('POST', '/paste', { Host: 'paste.example.org' }, 'uid=0(root) gid=0(root) groups=0(root)\n')]],
    protocol: 'http',
    detections: [],
  },
];

describe('FlowClassifier naming', () => {
  describe.each(CHUNKINGS)('fed %s', (chunking) => {
    it.each(FLOWS)('$name → $protocol', ({ steps, protocol, detections }) => {
      const { classifier } = feedSteps(steps, chunking);
      expect(classifier.classification).toMatchObject({ protocol, decided: true });
      expect(typesOf(classifier.classification.detections)).toEqual(detections);
    });
  });

  it('keeps the facts of the protocol it named', () => {
    expect(feedSteps([['up', NODE_CLIENT_HELLO]]).classifier.classification.tls).toMatchObject({ sni: 'example.com', alpn: ['h2', 'http/1.1'] });
    expect(feedSteps([['up', FRAGMENTED_CLIENT_HELLO]]).classifier.classification.tls).toMatchObject({ sni: 'pool.example.net' });
    expect(feedSteps([['up', SSH_CLIENT_BANNER], ['down', SSH_SERVER_BANNER]]).classifier.classification.ssh).toMatchObject({
      clientBanner: 'SSH-2.0-OpenSSH_9.6',
      serverBanner: 'SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u5',
    });
    expect(feedSteps([['up', GET]]).classifier.classification.http).toMatchObject({ method: 'GET', host: 'docs.example.org', userAgent: 'curl/8.5.0' });
    expect(feedSteps([['up', XMRIG_LOGIN]]).classifier.classification.stratum).toMatchObject({ dialect: 'cryptonote', method: 'login' });
  });

  it('reports no facts of protocols it did not see', () => {
    const { classification } = feedSteps([['up', GET]]).classifier;
    expect(classification).not.toHaveProperty('tls');
    expect(classification).not.toHaveProperty('ssh');
    expect(classification).not.toHaveProperty('stratum');
    expect(classification).not.toHaveProperty('websocket');
  });

  it('stays undecided while the first bytes could still be several protocols', () => {
    for (const prefix of ['GET / HTT', '{"id":1,"method":', 'SSH-2.0-Open', 'PROXY ', 'PRI * HTTP/2.0\r\n']) {
      expect(feedSteps([['up', prefix]]).classifier.classification, prefix).toMatchObject({ protocol: 'unknown', decided: false });
    }
    expect(feedSteps([['up', NODE_CLIENT_HELLO.subarray(0, 20)]]).classifier.classification.decided).toBe(false);
  });

  it('names a JSON line that is not mining `unknown` at once, and renames the flow on a later mining line', () => {
    const classifier = new FlowClassifier();
    classifier.push(Buffer.from(ETH_BLOCK_NUMBER), 'up', 0);
    expect(classifier.classification).toMatchObject({ protocol: 'unknown', decided: true });
    expect(classifier.listening).toBe(true);
    const raised = classifier.push(Buffer.from(XMRIG_LOGIN), 'up', 1);
    expect(typesOf(raised)).toEqual(['stratum']);
    expect(classifier.classification).toMatchObject({ protocol: 'stratum', stratum: { dialect: 'cryptonote' } });
  });

  it('names a reverse shell from its banner and keeps the evidence', () => {
    const { classifier, perPush } = feedSteps([['up', BASH_WITHOUT_TTY]]);
    expect(classifier.classification.protocol).toBe('reverse-shell');
    expect(perPush[0]).toEqual([expect.objectContaining({ type: 'reverse_shell', direction: 'up', atMs: 0 })]);
  });

  it('does not let HTTP/1.x claim the HTTP/2 preface, whose first line ends a head 6 bytes early', () => {
    const classifier = new FlowClassifier();
    const preface = Buffer.from('PRI * HTTP/2.0\r\n\r\n', 'latin1');
    [...preface].forEach((byte, index) => classifier.push(Buffer.from([byte]), 'up', index));
    expect(classifier.classification.decided).toBe(false);
    classifier.push(Buffer.from('SM\r\n\r\n', 'latin1'), 'up', preface.length);
    expect(classifier.classification.protocol).toBe('http2');
  });
});

describe('FlowClassifier.giveUp', () => {
  it('calls an undecided flow unknown', () => {
    const classifier = new FlowClassifier();
    classifier.push(Buffer.from('GET / HTT'), 'up', 0);
    classifier.giveUp();
    expect(classifier.classification).toMatchObject({ protocol: 'unknown', decided: true });
  });

  it('calls a flow whose server spoke first (SMTP) unknown', () => {
    const classifier = new FlowClassifier();
    classifier.push(Buffer.from('220 mail.example.org ESMTP Postfix\r\n'), 'down', 0);
    expect(classifier.classification.decided).toBe(false);
    classifier.giveUp();
    expect(classifier.classification).toMatchObject({ protocol: 'unknown', decided: true });
  });

  it('does not rename a flow already named', () => {
    const classifier = new FlowClassifier();
    classifier.push(NODE_CLIENT_HELLO, 'up', 0);
    classifier.giveUp();
    expect(classifier.classification.protocol).toBe('tls');
  });

  it('still lets the mining watcher rename a flow it gave up on', () => {
    const classifier = new FlowClassifier();
    classifier.push(Buffer.from('{"id":1,'), 'up', 0);
    classifier.giveUp();
    expect(classifier.classification.protocol).toBe('unknown');
    classifier.push(Buffer.from('"method":"mining.subscribe","params":["cpuminer/2.5.1"]}\n'), 'up', 1);
    expect(classifier.classification.protocol).toBe('stratum');
  });
});

describe('FlowClassifier.listening', () => {
  it('stops once TLS, HTTP/2 or a nested proxy handshake is named (the rest is opaque)', () => {
    expect(feedSteps([['up', NODE_CLIENT_HELLO]]).classifier.listening).toBe(false);
    expect(feedSteps([['up', HTTP2_PREFACE_AND_SETTINGS]]).classifier.listening).toBe(false);
    expect(feedSteps([['up', Buffer.from([0x05, 0x01, 0x00])]]).classifier.listening).toBe(false);
  });

  it('keeps listening to SSH past both NEWKEYS (HASSH, role inversion, then encrypted-phase behaviour), for a bounded stretch', () => {
    const classifier = new FlowClassifier();
    const steps: Step[] = [
      ['up', SSH_CLIENT_BANNER],
      ['down', SSH_SERVER_BANNER],
      ['up', KEXINIT],
      ['down', KEXINIT],
      ['up', KEX_ECDH_INIT],
      ['down', Buffer.concat([KEX_ECDH_REPLY, NEWKEYS])],
    ];
    steps.forEach(([direction, data], index) => {
      classifier.push(toBuffer(data), direction, index);
      expect(classifier.listening, `after step ${index}`).toBe(true);
    });
    expect(classifier.classification.ssh?.hassh).toMatch(/^[0-9a-f]{32}$/);
    expect(classifier.takeFactsSettled()).toBe(false);
    classifier.push(NEWKEYS, 'up', steps.length);
    // Encrypted packets follow: the reverse-tunnel analysis reads their sizes until it has seen enough,
    // but the facts for the flow's events are complete now (said once).
    expect(classifier.listening).toBe(true);
    expect(classifier.takeFactsSettled()).toBe(true);
    expect(classifier.takeFactsSettled()).toBe(false);
    let reads = 0;
    while (classifier.listening && reads < 10_000) {
      classifier.push(Buffer.alloc(100, 0x5a), reads % 2 === 0 ? 'up' : 'down', steps.length + 1 + reads);
      reads += 1;
    }
    expect(classifier.listening).toBe(false);
    expect(reads).toBeLessThan(1000);
  });

  it('keeps listening to HTTP for the next request of a keep-alive connection', () => {
    const { classifier } = feedSteps([['up', GET], ['down', OK], ['up', GET], ['down', OK]]);
    expect(classifier.classification.protocol).toBe('http');
    expect(classifier.listening).toBe(true);
  });

  it('keeps listening to an unknown flow, then stops once the watchers have seen their windows', () => {
    const classifier = new FlowClassifier();
    classifier.push(Buffer.from('ping 1\n'), 'up', 0);
    expect(classifier.classification).toMatchObject({ protocol: 'unknown', decided: true });
    expect(classifier.listening).toBe(true);
    classifier.push(Buffer.alloc(8192, 0x61), 'up', 1);
    classifier.push(Buffer.alloc(1024, 0x62), 'down', 2);
    expect(classifier.listening).toBe(false);
  });
});

describe('FlowClassifier mining detection on plaintext flows', () => {
  it.each(CHUNKINGS)('catches getwork after ten harmless requests, on the read that carries it (%s)', (chunking) => {
    const harmless = feed(pushesFor(TEN_PAGE_LOADS, chunking));
    expect(harmless.perPush.flat()).toEqual([]);
    expect(harmless.classifier.listening).toBe(true);
    const raised = pushesFor([['up', GETWORK_REQUEST]], chunking).flatMap(([direction, data], index) => harmless.classifier.push(data, direction, 1000 + index));
    expect(typesOf(raised)).toEqual(['stratum']);
    expect(harmless.classifier.classification).toMatchObject({ protocol: 'http', stratum: { dialect: 'getwork' } });
  });

  it.each(CHUNKINGS)('reads text messages inside a WebSocket and renames the flow websocket (%s)', (chunking) => {
    const handshake = feedSteps([['up', WEBSOCKET_UPGRADE], ['down', WEBSOCKET_ACCEPTED]], chunking);
    expect(handshake.perPush.flat()).toEqual([]);
    expect(handshake.classifier.classification).toMatchObject({ protocol: 'websocket', websocket: true });
    const frame = clientFrame({ opcode: 0x1, payload: NICEHASH_SUBSCRIBE });
    const raised = pushesFor([['up', frame]], chunking).flatMap(([direction, data], index) => handshake.classifier.push(data, direction, 50 + index));
    expect(raised).toEqual([expect.objectContaining({ type: 'stratum', direction: 'up', stratum: expect.objectContaining({ method: 'mining.subscribe' }) })]);
    expect(handshake.classifier.classification.detections.map((d) => d.type)).toEqual(['stratum']);
  });

  it('stays http when the upgrade is refused', () => {
    const refused = httpResponse('400 Bad Request', {}, '');
    const { classifier } = feedSteps([['up', WEBSOCKET_UPGRADE], ['down', refused]]);
    expect(classifier.classification.protocol).toBe('http');
    expect(classifier.classification).not.toHaveProperty('websocket');
  });
});

describe('FlowClassifier on hostile input', () => {
  const direction = fc.constantFrom<Direction>('up', 'down');
  const chunk = fc.uint8Array({ maxLength: 96 }).map((bytes) => Buffer.from(bytes));

  it('never throws on arbitrary chunks, and always reports a coherent classification', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(direction, chunk), { maxLength: 24 }), fc.boolean(), (pushes, giveUp) => {
        const classifier = new FlowClassifier();
        pushes.forEach(([dir, data], index) => classifier.push(data, dir, index));
        if (giveUp) classifier.giveUp();
        const { classification } = classifier;
        if (giveUp) expect(classification.decided).toBe(true);
        if (!classification.decided) expect(classification.protocol).toBe('unknown');
        expect(typeof classifier.listening).toBe('boolean');
      }),
    );
  });

  it('never throws when real first bytes are followed by garbage', () => {
    const openings = FLOWS.map((flow) => pushesFor(flow.steps, 'whole'));
    fc.assert(
      fc.property(fc.constantFrom(...openings), fc.array(fc.tuple(direction, chunk), { maxLength: 16 }), (opening, garbage) => {
        const classifier = new FlowClassifier();
        [...opening, ...garbage].forEach(([dir, data], index) => classifier.push(data, dir, index));
        expect(classifier.classification.decided).toBe(true);
      }),
    );
  });

  it('names every flow the same wherever its bytes are split', () => {
    fc.assert(
      fc.property(fc.constantFrom(...FLOWS), fc.array(fc.integer({ min: 1, max: 97 }), { minLength: 1, maxLength: 8 }), (flow, sizes) => {
        const pushes = pushesFor(flow.steps, 'whole').flatMap(([dir, data]): Push[] => {
          const pieces: Push[] = [];
          for (let offset = 0, i = 0; offset < data.length; i++) {
            const size = sizes[i % sizes.length] ?? 1;
            pieces.push([dir, data.subarray(offset, offset + size)]);
            offset += size;
          }
          return pieces;
        });
        expect(feed(pushes).classifier.classification.protocol).toBe(flow.protocol);
      }),
    );
  });
});
