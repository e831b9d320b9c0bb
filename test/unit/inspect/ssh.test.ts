import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { CleartextPacketReader, MAX_CLEARTEXT_PACKET_BYTES } from '../../../src/inspect/ssh/binary-packet.js';
import { clientHassh, serverHassh } from '../../../src/inspect/ssh/hassh.js';
import {
  IdentificationReader,
  MAX_IDENTIFICATION_LINE_BYTES,
  MAX_PRE_BANNER_BYTES,
} from '../../../src/inspect/ssh/identification.js';
import { parseKexInit, type KexInit } from '../../../src/inspect/ssh/kexinit.js';
import { negotiate } from '../../../src/inspect/ssh/negotiation.js';
import { SshClassifier } from '../../../src/inspect/ssh/ssh-classifier.js';
import type { Detection, Direction } from '../../../src/inspect/types.js';
import {
  prepareSshLab,
  recordOutboundSession,
  recordRoleInvertedSession,
  sshdSetting,
  sshSetting,
  type RecordedChunk,
} from './ssh-capture.js';

// ---- wire builders ---------------------------------------------------------------------------------

/** A cleartext binary packet: minimal padding of at least 4 bytes, total a multiple of 8 (RFC 4253 §6). */
function sshPacket(payload: Buffer | number[]): Buffer {
  const body = Buffer.from(payload);
  let padding = 8 - ((5 + body.length) % 8);
  if (padding < 4) padding += 8;
  const packet = Buffer.alloc(5 + body.length + padding);
  packet.writeUInt32BE(1 + body.length + padding, 0);
  packet[4] = padding;
  body.copy(packet, 5);
  return packet;
}

type NameLists = Omit<KexInit, 'cookie' | 'firstKexPacketFollows'>;

const SIMPLE_LISTS: NameLists = {
  kexAlgorithms: 'curve25519-sha256,ecdh-sha2-nistp256',
  serverHostKeyAlgorithms: 'ssh-ed25519,rsa-sha2-512',
  encryptionClientToServer: 'chacha20-poly1305@openssh.com,aes128-ctr',
  encryptionServerToClient: 'chacha20-poly1305@openssh.com,aes128-ctr',
  macClientToServer: 'hmac-sha2-256,hmac-sha1',
  macServerToClient: 'hmac-sha2-256,hmac-sha1',
  compressionClientToServer: 'none',
  compressionServerToClient: 'none',
  languagesClientToServer: '',
  languagesServerToClient: '',
};

function kexInitPayload(lists: Partial<NameLists> = {}, firstKexPacketFollows = false): Buffer {
  const all = { ...SIMPLE_LISTS, ...lists };
  const order: (keyof NameLists)[] = [
    'kexAlgorithms', 'serverHostKeyAlgorithms', 'encryptionClientToServer', 'encryptionServerToClient',
    'macClientToServer', 'macServerToClient', 'compressionClientToServer', 'compressionServerToClient',
    'languagesClientToServer', 'languagesServerToClient',
  ];
  const encoded = order.map((field) => {
    const text = Buffer.from(all[field], 'latin1');
    const length = Buffer.alloc(4);
    length.writeUInt32BE(text.length);
    return Buffer.concat([length, text]);
  });
  return Buffer.concat([Buffer.from([20]), Buffer.alloc(16, 0xab), ...encoded, Buffer.from([firstKexPacketFollows ? 1 : 0, 0, 0, 0, 0])]);
}

function kexInitOf(lists: Partial<NameLists>): KexInit {
  const parsed = parseKexInit(kexInitPayload(lists));
  if (!parsed.ok) throw new Error(parsed.reason);
  return parsed.kexInit;
}

/** A key-exchange method message with some opaque body (e.g. an ephemeral public key). */
const kexMessage = (code: number): Buffer => sshPacket([code, ...Buffer.alloc(36, 0x42)]);
const NEWKEYS = sshPacket([21]);
const md5 = (text: string): string => createHash('md5').update(text, 'latin1').digest('hex');

// ---- feeding ---------------------------------------------------------------------------------------

interface Chunk {
  direction: Direction;
  bytes: Buffer;
}

function feed(chunks: Chunk[]): { classifier: SshClassifier; detections: Detection[]; states: string[] } {
  const classifier = new SshClassifier();
  const detections: Detection[] = [];
  const states: string[] = [];
  chunks.forEach((chunk, index) => {
    const report = classifier.push(chunk.bytes, chunk.direction, index);
    detections.push(...report.detections);
    states.push(report.state);
  });
  return { classifier, detections, states };
}

const byteByByte = (chunks: Chunk[]): Chunk[] =>
  chunks.flatMap(({ direction, bytes }) => [...bytes].map((byte) => ({ direction, bytes: Buffer.from([byte]) })));

/** Consecutive reads from the same side merged, as a slow event loop would deliver them. */
function coalesced(chunks: Chunk[]): Chunk[] {
  const merged: Chunk[] = [];
  for (const chunk of chunks) {
    const last = merged[merged.length - 1];
    if (last && last.direction === chunk.direction) last.bytes = Buffer.concat([last.bytes, chunk.bytes]);
    else merged.push({ ...chunk });
  }
  return merged;
}

/** Every read of one side as a single chunk, `first` side first (the other side's bytes come late). */
function wholeSides(chunks: Chunk[], first: Direction): Chunk[] {
  const order: Direction[] = first === 'up' ? ['up', 'down'] : ['down', 'up'];
  return order.map((direction) => ({
    direction,
    bytes: Buffer.concat(chunks.filter((chunk) => chunk.direction === direction).map((chunk) => chunk.bytes)),
  }));
}

const text = (value: string): Buffer => Buffer.from(value, 'latin1');

// ---- identification line ---------------------------------------------------------------------------

describe('IdentificationReader', () => {
  it('reads a CRLF line, splits it and returns the bytes after it', () => {
    const step = new IdentificationReader(false).push(text('SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u5\r\n\x00\x00\x01'));
    expect(step).toEqual({
      status: 'done',
      line: { banner: 'SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u5', protoVersion: '2.0', softwareVersion: 'OpenSSH_9.2p1', comments: 'Debian-2+deb12u5' },
      rest: Buffer.from([0, 0, 1]),
    });
  });

  it('accepts a bare LF and any split of the line', () => {
    const reader = new IdentificationReader(false);
    const steps = [...text('SSH-2.0-Go\n')].map((byte) => reader.push(Buffer.from([byte])));
    expect(steps.slice(0, -1).every((step) => step.status === 'need-more')).toBe(true);
    expect(steps.at(-1)).toMatchObject({ status: 'done', line: { banner: 'SSH-2.0-Go', softwareVersion: 'Go' } });
  });

  it('rejects a client at the first byte that cannot start "SSH-"', () => {
    expect(new IdentificationReader(false).push(text('G'))).toMatchObject({ status: 'not-ssh' });
    expect(new IdentificationReader(false).push(text('SSX'))).toMatchObject({ status: 'not-ssh' });
  });

  it('skips server pre-banner text (1,664 bytes of art, as in the Zeek capture) before the banner', () => {
    // 31 lines of art and one line that starts like the prefix but is not it: 32 × 52 = 1,664 bytes.
    const art = `${'#'.repeat(50)}\r\n`.repeat(31) + 'SSL and SSH users: please behave.'.padEnd(50, '.') + '\r\n';
    expect(art.length).toBe(1664);
    const bytes = text(`${art}SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u5\r\n`);
    expect(new IdentificationReader(true).push(bytes)).toMatchObject({ status: 'done', line: { softwareVersion: 'OpenSSH_9.2p1' } });
    // A client may not do this.
    expect(new IdentificationReader(false).push(bytes)).toMatchObject({ status: 'not-ssh' });
  });

  it('gives up on endless pre-banner text and on binary data', () => {
    const reader = new IdentificationReader(true);
    const line = text('hello there\r\n');
    let step = reader.push(line);
    for (let sent = line.length; step.status === 'need-more' && sent <= MAX_PRE_BANNER_BYTES; sent += line.length) step = reader.push(line);
    expect(step).toMatchObject({ status: 'not-ssh', reason: expect.stringContaining('pre-banner') });
    // A TLS record header is not text.
    expect(new IdentificationReader(true).push(Buffer.from([0x16, 0x03, 0x01]))).toMatchObject({ status: 'not-ssh' });
  });

  it('enforces the 255-byte limit, line ending included', () => {
    const exactly = `SSH-2.0-${'x'.repeat(MAX_IDENTIFICATION_LINE_BYTES - 10)}\r\n`;
    expect(exactly.length).toBe(MAX_IDENTIFICATION_LINE_BYTES);
    expect(new IdentificationReader(false).push(text(exactly))).toMatchObject({ status: 'done' });
    expect(new IdentificationReader(false).push(text(`SSH-2.0-${'x'.repeat(MAX_IDENTIFICATION_LINE_BYTES)}`))).toMatchObject({ status: 'not-ssh' });
  });

  it('always decides within the pre-banner cap plus one line, whatever the bytes', () => {
    fc.assert(
      fc.property(fc.boolean(), fc.uint8Array({ minLength: MAX_PRE_BANNER_BYTES + MAX_IDENTIFICATION_LINE_BYTES, maxLength: 9000 }), (server, bytes) => {
        const reader = new IdentificationReader(server);
        expect(reader.push(Buffer.from(bytes)).status).not.toBe('need-more');
      }),
      { numRuns: 200 },
    );
  });
});

// ---- binary packets and KEXINIT --------------------------------------------------------------------

describe('CleartextPacketReader', () => {
  it('reads packets split anywhere and stops where the callback says, reporting the bytes consumed', () => {
    const stream = Buffer.concat([kexMessage(30), NEWKEYS, Buffer.from('encrypted garbage')]);
    const reader = new CleartextPacketReader();
    const codes: number[] = [];
    let consumed = 0;
    for (const byte of stream) {
      consumed += reader.push(Buffer.from([byte]), (payload) => {
        codes.push(payload[0] ?? -1);
        return payload[0] === 21 ? 'stop' : 'continue';
      });
    }
    expect(codes).toEqual([30, 21]);
    expect(consumed).toBe(kexMessage(30).length + NEWKEYS.length);
    expect(reader.status).toEqual({ state: 'stopped' });
  });

  it('refuses packets over 35,000 bytes and packets without payload', () => {
    const tooLong = Buffer.alloc(8);
    tooLong.writeUInt32BE(MAX_CLEARTEXT_PACKET_BYTES - 3);
    const reader = new CleartextPacketReader();
    reader.push(tooLong, () => 'continue');
    expect(reader.status).toMatchObject({ state: 'error' });
    const allPadding = new CleartextPacketReader();
    allPadding.push(Buffer.from([0, 0, 0, 8, 7, 0, 0, 0, 0, 0, 0, 0]), () => 'continue');
    expect(allPadding.status).toMatchObject({ state: 'error', reason: expect.stringContaining('no payload') });
  });

  it('never holds more than one maximal packet, whatever the bytes', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 4000 }), { maxLength: 30 }), (chunks) => {
        const reader = new CleartextPacketReader();
        for (const chunk of chunks) {
          reader.push(Buffer.from(chunk), () => 'continue');
          expect(reader.bufferedBytes).toBeLessThanOrEqual(MAX_CLEARTEXT_PACKET_BYTES);
        }
      }),
    );
  });
});

describe('KEXINIT, HASSH and negotiation', () => {
  it('parses the cookie, the ten name-lists and first_kex_packet_follows', () => {
    const parsed = parseKexInit(kexInitPayload({ languagesServerToClient: 'en' }, true));
    expect(parsed).toEqual({ ok: true, kexInit: { cookie: Buffer.alloc(16, 0xab), ...SIMPLE_LISTS, languagesServerToClient: 'en', firstKexPacketFollows: true } });
  });

  it('reports truncation instead of throwing', () => {
    const payload = kexInitPayload();
    for (const length of [0, 1, 10, 17, 30, payload.length - 5]) {
      expect(parseKexInit(payload.subarray(0, length))).toMatchObject({ ok: false });
    }
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
      parseKexInit(Buffer.from([20, ...bytes]));
    }));
  });

  it('matches the published Cyberduck 6.7.1 HASSH from the salesforce/hassh README', () => {
    const kex = 'curve25519-sha256@libssh.org,diffie-hellman-group-exchange-sha256,ecdh-sha2-nistp521,ecdh-sha2-nistp384,ecdh-sha2-nistp256,diffie-hellman-group-exchange-sha1,diffie-hellman-group1-sha1,diffie-hellman-group14-sha1,diffie-hellman-group14-sha256,diffie-hellman-group15-sha512,diffie-hellman-group16-sha512,diffie-hellman-group17-sha512,diffie-hellman-group18-sha512,diffie-hellman-group14-sha256@ssh.com,diffie-hellman-group15-sha256,diffie-hellman-group15-sha256@ssh.com,diffie-hellman-group15-sha384@ssh.com,diffie-hellman-group16-sha256,diffie-hellman-group16-sha384@ssh.com,diffie-hellman-group16-sha512@ssh.com,diffie-hellman-group18-sha512@ssh.com';
    const ciphers = 'aes128-cbc,aes128-ctr,aes192-cbc,aes192-ctr,aes256-cbc,aes256-ctr,blowfish-cbc,blowfish-ctr,cast128-cbc,cast128-ctr,idea-cbc,idea-ctr,serpent128-cbc,serpent128-ctr,serpent192-cbc,serpent192-ctr,serpent256-cbc,serpent256-ctr,3des-cbc,3des-ctr,twofish128-cbc,twofish128-ctr,twofish192-cbc,twofish192-ctr,twofish256-cbc,twofish256-ctr,twofish-cbc,arcfour,arcfour128,arcfour256';
    const macs = 'hmac-sha1,hmac-sha1-96,hmac-md5,hmac-md5-96,hmac-sha2-256,hmac-sha2-512';
    const kexInit = kexInitOf({
      kexAlgorithms: kex,
      encryptionClientToServer: ciphers,
      macClientToServer: macs,
      compressionClientToServer: 'zlib@openssh.com,zlib,none',
    });
    expect(clientHassh(kexInit)).toEqual({ algorithms: `${kex};${ciphers};${macs};zlib@openssh.com,zlib,none`, hash: '8a8ae540028bf433cd68356c1b9e8d5b' });
  });

  it('takes the server-to-client lists for hasshServer', () => {
    const kexInit = kexInitOf({ encryptionServerToClient: 'aes256-ctr', macServerToClient: 'hmac-sha1', compressionServerToClient: 'none,zlib' });
    const algorithms = 'curve25519-sha256,ecdh-sha2-nistp256;aes256-ctr;hmac-sha1;none,zlib';
    expect(serverHassh(kexInit)).toEqual({ algorithms, hash: md5(algorithms) });
  });

  it("picks the client's first algorithm the server also lists, and no MAC for AEAD ciphers", () => {
    const client = kexInitOf({
      kexAlgorithms: 'sntrup761x25519-sha512,curve25519-sha256,ext-info-c',
      encryptionClientToServer: 'aes256-gcm@openssh.com,aes128-ctr',
      encryptionServerToClient: 'aes128-ctr,aes256-gcm@openssh.com',
      macServerToClient: 'hmac-sha1,hmac-sha2-256',
      compressionServerToClient: 'zlib@openssh.com,none',
    });
    const server = kexInitOf({
      kexAlgorithms: 'curve25519-sha256,sntrup761x25519-sha512,kex-strict-s-v00@openssh.com',
      serverHostKeyAlgorithms: 'rsa-sha2-512',
      encryptionClientToServer: 'aes128-ctr,aes256-gcm@openssh.com',
      encryptionServerToClient: 'aes256-gcm@openssh.com,aes128-ctr',
      macServerToClient: 'hmac-sha2-256,hmac-sha1',
      compressionServerToClient: 'none,zlib@openssh.com',
    });
    expect(negotiate(client, server)).toEqual({
      kex: 'sntrup761x25519-sha512',
      hostKey: 'rsa-sha2-512',
      clientToServer: { cipher: 'aes256-gcm@openssh.com', mac: undefined, compression: 'none', aead: true },
      serverToClient: { cipher: 'aes128-ctr', mac: 'hmac-sha1', compression: 'zlib@openssh.com', aead: false },
    });
    expect(negotiate(client, kexInitOf({ kexAlgorithms: 'diffie-hellman-group1-sha1' })).kex).toBeUndefined();
  });
});

// ---- classifier on hand-built flows ----------------------------------------------------------------

/** Zeek `reverse-ssh.pcap` shape: the TCP client runs dropbear (server), the remote runs AsyncSSH (client). */
function roleInvertedFlow(): Chunk[] {
  return [
    { direction: 'up', bytes: Buffer.concat([text('SSH-2.0-dropbear_2018.76\r\n'), sshPacket(kexInitPayload({ kexAlgorithms: 'curve25519-sha256,kexguess2@matt.ucc.asn.au' }))]) },
    { direction: 'down', bytes: text('SSH-2.0-AsyncSSH_2.8.1\r\n') },
    { direction: 'down', bytes: sshPacket(kexInitPayload({ kexAlgorithms: 'curve25519-sha256,ext-info-c' })) },
    { direction: 'down', bytes: kexMessage(30) },
    { direction: 'up', bytes: Buffer.concat([kexMessage(31), NEWKEYS]) },
    { direction: 'down', bytes: Buffer.concat([NEWKEYS, Buffer.alloc(64, 0x99)]) },
  ];
}

/** The same exchange with the roles the right way round. */
function normalFlow(): Chunk[] {
  return [
    { direction: 'up', bytes: Buffer.concat([text('SSH-2.0-OpenSSH_9.6\r\n'), sshPacket(kexInitPayload())]) },
    { direction: 'down', bytes: Buffer.concat([text('SSH-2.0-OpenSSH_8.7\r\n'), sshPacket(kexInitPayload({ encryptionServerToClient: 'aes128-ctr' }))]) },
    { direction: 'up', bytes: kexMessage(30) },
    { direction: 'down', bytes: Buffer.concat([kexMessage(31), NEWKEYS, Buffer.alloc(40, 0x77)]) },
    { direction: 'up', bytes: Buffer.concat([NEWKEYS, Buffer.alloc(44, 0x55)]) },
  ];
}

describe('SshClassifier on hand-built flows', () => {
  it('identifies SSH, reads facts by role and raises nothing on a normal outbound session', () => {
    const { classifier, detections, states } = feed(normalFlow());
    expect(states[0]).toBe('identified');
    expect(detections).toEqual([]);
    const client = clientHassh(kexInitOf({}));
    expect(classifier.facts()).toEqual({
      clientBanner: 'SSH-2.0-OpenSSH_9.6',
      serverBanner: 'SSH-2.0-OpenSSH_8.7',
      hassh: client.hash,
      hasshAlgorithms: client.algorithms,
      hasshServer: md5('curve25519-sha256,ecdh-sha2-nistp256;aes128-ctr;hmac-sha2-256,hmac-sha1;none'),
      hasshServerAlgorithms: 'curve25519-sha256,ecdh-sha2-nistp256;aes128-ctr;hmac-sha2-256,hmac-sha1;none',
      negotiated: {
        kex: 'curve25519-sha256',
        hostKey: 'ssh-ed25519',
        cipherClientToServer: 'chacha20-poly1305@openssh.com',
        cipherServerToClient: 'aes128-ctr',
        macClientToServer: undefined,
        macServerToClient: 'hmac-sha2-256',
      },
    });
    expect(classifier.roleOf('up')).toBe('client');
    expect(classifier.algorithmsSentBy('down')).toEqual({ cipher: 'aes128-ctr', mac: 'hmac-sha2-256', compression: 'none', aead: false });
    expect(classifier.kexMessagesFrom('up')).toEqual([30]);
    expect(classifier.kexMessagesFrom('down')).toEqual([31]);
  });

  it('marks where each direction turns encrypted, NEWKEYS coalesced with encrypted bytes included', () => {
    const flow = normalFlow();
    const bytesOf = (direction: Direction): number =>
      flow.filter((chunk) => chunk.direction === direction).reduce((sum, chunk) => sum + chunk.bytes.length, 0);
    for (const chunks of [flow, byteByByte(flow)]) {
      const { classifier } = feed(chunks);
      expect(classifier.encryptedFrom('down')).toBe(bytesOf('down') - 40);
      expect(classifier.encryptedFrom('up')).toBe(bytesOf('up') - 44);
    }
    const beforeNewKeys = feed(flow.slice(0, 3)).classifier;
    expect(beforeNewKeys.encryptedFrom('up')).toBeUndefined();
  });

  it('raises reverse_tunnel once when the remote side starts the key exchange', () => {
    for (const chunks of [roleInvertedFlow(), byteByByte(roleInvertedFlow()), coalesced(roleInvertedFlow())]) {
      const { classifier, detections } = feed(chunks);
      expect(detections).toHaveLength(1);
      expect(detections[0]).toMatchObject({ type: 'reverse_tunnel', confidence: 'high', direction: 'down' });
      expect(detections[0]?.evidence).toContain('dropbear');
      expect(classifier.roleOf('up')).toBe('server');
      expect(classifier.facts()).toMatchObject({ clientBanner: 'SSH-2.0-AsyncSSH_2.8.1', serverBanner: 'SSH-2.0-dropbear_2018.76' });
      expect(classifier.facts().hasshAlgorithms).toMatch(/^curve25519-sha256,ext-info-c;/);
    }
  });

  it('raises reverse_tunnel on a local KEX reply even when the remote init was not seen first', () => {
    const flow = roleInvertedFlow().filter((chunk) => !chunk.bytes.equals(kexMessage(30)));
    const { detections } = feed(flow);
    expect(detections).toEqual([expect.objectContaining({ type: 'reverse_tunnel', direction: 'up' })]);
  });

  /** Both sides offer `upKex` / `downKex`, then exchange the given key-exchange messages. */
  const kexFlow = (upKex: string, downKex: string, messages: [Direction, number][]): Chunk[] => [
    { direction: 'up', bytes: Buffer.concat([text('SSH-2.0-PuTTY_Release_0.81\r\n'), sshPacket(kexInitPayload({ kexAlgorithms: upKex }))]) },
    { direction: 'down', bytes: Buffer.concat([text('SSH-2.0-OpenSSH_9.6\r\n'), sshPacket(kexInitPayload({ kexAlgorithms: downKex }))]) },
    ...messages.map(([direction, code]): Chunk => ({ direction, bytes: kexMessage(code) })),
  ];

  it('reads GSS-API key exchange (31-34 both ways) by its opening message only', () => {
    const gss = 'gss-curve25519-sha256-toWM5Slw5Ew8Mqkay+al2g==,curve25519-sha256';
    expect(feed(kexFlow(gss, gss, [['up', 30], ['down', 32], ['down', 33]])).detections).toEqual([]);
    expect(feed(kexFlow(gss, gss, [['down', 30], ['up', 32]])).detections).toEqual([expect.objectContaining({ direction: 'down' })]);
  });

  it('reads RSA key exchange, where the server speaks first with 30', () => {
    const rsa = 'rsa2048-sha256';
    expect(feed(kexFlow(rsa, rsa, [['down', 30], ['up', 31], ['down', 32]])).detections).toEqual([]);
    expect(feed(kexFlow(rsa, rsa, [['up', 30], ['down', 31], ['up', 32]])).detections).toEqual([expect.objectContaining({ direction: 'up' })]);
  });

  it('trusts no key-exchange message when the method depends on who is client', () => {
    const flow = kexFlow('curve25519-sha256,rsa2048-sha256', 'rsa2048-sha256,curve25519-sha256', [['down', 30], ['up', 31]]);
    expect(feed(flow).detections).toEqual([]);
  });

  it('identifies from the server banner alone, pre-banner text included, when it arrives first', () => {
    const { states } = feed([{ direction: 'down', bytes: text('Authorised users only\r\nSSH-2.0-OpenSSH_9.2p1\r\n') }]);
    expect(states).toEqual(['identified']);
  });

  it('rejects at the first up byte that is not SSH, and stays rejected', () => {
    const { states } = feed([
      { direction: 'up', bytes: text('G') },
      { direction: 'down', bytes: text('SSH-2.0-OpenSSH_9.2p1\r\n') },
    ]);
    expect(states).toEqual(['rejected', 'rejected']);
    expect(feed([{ direction: 'down', bytes: Buffer.from([0x16, 0x03, 0x03, 0x00, 0x7a]) }]).states).toEqual(['rejected']);
    // An SMTP greeting is text a server may send, but the client's reply is not an identification line.
    expect(feed([{ direction: 'down', bytes: text('220 mail ESMTP\r\n') }, { direction: 'up', bytes: text('EHLO x\r\n') }]).states).toEqual(['undecided', 'rejected']);
  });

  it('stays identified when one side has identified itself and the other sends junk', () => {
    const { states } = feed([
      { direction: 'down', bytes: text('SSH-2.0-OpenSSH_9.2p1\r\n') },
      { direction: 'up', bytes: text('GET / HTTP/1.1\r\n') },
    ]);
    expect(states).toEqual(['identified', 'identified']);
  });

  it('notes tunnelling-tool identification lines as facts', () => {
    const notes = (up: string, down: string): string[] =>
      feed([{ direction: 'up', bytes: text(up) }, { direction: 'down', bytes: text(down) }]).classifier.bannerNotes().map((note) => `${note.direction}: ${note.note}`);
    expect(notes('SSH-2.0-Go\r\n', 'SSH-2.0-OpenSSH_8.0\r\n')).toEqual(['up: Go x/crypto/ssh default identification']);
    expect(notes('SSH-chisel-v3-client\r\n', 'SSH-chisel-v3-server\r\n')).toEqual(['up: chisel tunnel identification', 'down: chisel tunnel identification']);
    expect(notes('SSH-v2.2.3-1-gd8a4b0c-linux_amd64\r\n', 'SSH-2.0-OpenSSH_8.0\r\n')).toEqual(['up: unusual protoversion "v2.2.3"']);
    expect(notes('SSH-2.0-OpenSSH_9.6\r\n', 'SSH-2.0-Go\r\n')).toEqual(['down: Go x/crypto/ssh default identification']);
  });

  it('never throws on arbitrary bytes from either side, before or after a valid opening', () => {
    const chunk = fc.record({ direction: fc.constantFrom<Direction>('up', 'down'), bytes: fc.uint8Array({ maxLength: 600 }).map((bytes) => Buffer.from(bytes)) });
    const opening: Chunk[] = [
      { direction: 'up', bytes: text('SSH-2.0-x\r\n') },
      { direction: 'down', bytes: text('SSH-2.0-y\r\n') },
    ];
    fc.assert(
      fc.property(fc.boolean(), fc.array(chunk, { maxLength: 40 }), (withOpening, chunks) => {
        const { classifier } = feed(withOpening ? [...opening, ...chunks] : chunks);
        classifier.facts();
        classifier.bannerNotes();
      }),
    );
  });

  it('never throws on mutated handshakes', () => {
    const flow = coalesced(normalFlow());
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(), fc.nat(255))), fc.array(fc.nat(), { maxLength: 6 }), (flips, cuts) => {
        const mutated = flow.map((chunk) => ({ direction: chunk.direction, bytes: Buffer.from(chunk.bytes) }));
        for (const [position, value] of flips) {
          const target = mutated[position % mutated.length];
          if (target && target.bytes.length > 0) target.bytes[position % target.bytes.length] = value;
        }
        const split = mutated.flatMap((chunk, index) => {
          const cut = (cuts[index] ?? 0) % (chunk.bytes.length + 1);
          return [{ ...chunk, bytes: chunk.bytes.subarray(0, cut) }, { ...chunk, bytes: chunk.bytes.subarray(cut) }];
        });
        feed(split).classifier.facts();
      }),
    );
  });
});

// ---- classifier on real OpenSSH sessions ------------------------------------------------------------

const lab = prepareSshLab();
const labUnavailable = 'unavailable' in lab ? lab.unavailable : undefined;
afterAll(() => {
  if (!('unavailable' in lab)) lab.dispose();
});

describe.skipIf(labUnavailable !== undefined)(`SshClassifier on real OpenSSH sessions${labUnavailable ? ` (skipped: ${labUnavailable})` : ''}`, () => {
  const realLab = () => {
    if ('unavailable' in lab) throw new Error(lab.unavailable);
    return lab;
  };
  const gcmOptions = ['-c', 'aes128-gcm@openssh.com', '-o', 'Compression=no'];
  const ctrOptions = ['-c', 'aes256-ctr', '-m', 'hmac-sha2-256-etm@openssh.com', '-o', 'KexAlgorithms=diffie-hellman-group-exchange-sha256'];
  const clientBanner = (): string => `SSH-2.0-${spawnSync('ssh', ['-V']).stderr.toString().split(',')[0]}`;
  const feedings = (chunks: RecordedChunk[]): [string, Chunk[]][] => [
    ['as recorded', chunks],
    ['byte by byte', byteByByte(chunks)],
    ['coalesced', coalesced(chunks)],
    ['server side first, whole', wholeSides(chunks, 'down')],
  ];

  it('reads banners, HASSH and the forced AEAD cipher from ssh talking to sshd, in any chunking', async () => {
    const chunks = await recordOutboundSession(realLab(), gcmOptions);
    const reference = feed(chunks).classifier.facts();
    const hasshFields = (reference.hasshAlgorithms ?? '').split(';');
    expect(reference.clientBanner).toBe(clientBanner());
    expect(reference.serverBanner).toMatch(/^SSH-2\.0-OpenSSH_/);
    expect(hasshFields[0]?.startsWith(`${sshSetting('kexalgorithms', gcmOptions)},`)).toBe(true);
    expect(hasshFields.slice(1, 3)).toEqual([sshSetting('ciphers', gcmOptions), sshSetting('macs', gcmOptions)]);
    expect(hasshFields[3]?.split(',')[0]).toBe('none');
    expect(reference.hassh).toBe(md5(reference.hasshAlgorithms ?? ''));
    const serverFields = (reference.hasshServerAlgorithms ?? '').split(';');
    expect(serverFields[0]?.startsWith(sshdSetting(realLab(), 'kexalgorithms', []))).toBe(true);
    expect(serverFields.slice(1, 3)).toEqual([sshdSetting(realLab(), 'ciphers', []), sshdSetting(realLab(), 'macs', [])]);
    expect(reference.hasshServer).toBe(md5(reference.hasshServerAlgorithms ?? ''));
    expect(reference.negotiated).toMatchObject({
      cipherClientToServer: 'aes128-gcm@openssh.com',
      cipherServerToClient: 'aes128-gcm@openssh.com',
      macClientToServer: undefined,
      macServerToClient: undefined,
    });
    for (const [name, fed] of feedings(chunks)) {
      const { classifier, detections, states } = feed(fed);
      expect(classifier.facts(), name).toEqual(reference);
      expect(detections, name).toEqual([]);
      expect(states.at(-1), name).toBe('identified');
      expect(classifier.encryptedFrom('up'), name).toBeDefined();
      expect(classifier.encryptedFrom('down'), name).toBeDefined();
    }
  });

  it('negotiates the forced CTR cipher, ETM MAC and group exchange, and sees who sent which KEX message', async () => {
    const chunks = await recordOutboundSession(realLab(), ctrOptions);
    for (const [name, fed] of feedings(chunks)) {
      const { classifier, detections } = feed(fed);
      expect(classifier.facts().negotiated, name).toMatchObject({
        kex: 'diffie-hellman-group-exchange-sha256',
        hostKey: 'ssh-ed25519',
        cipherClientToServer: 'aes256-ctr',
        cipherServerToClient: 'aes256-ctr',
        macClientToServer: 'hmac-sha2-256-etm@openssh.com',
        macServerToClient: 'hmac-sha2-256-etm@openssh.com',
      });
      expect(classifier.algorithmsSentBy('up'), name).toEqual({ cipher: 'aes256-ctr', mac: 'hmac-sha2-256-etm@openssh.com', compression: 'none', aead: false });
      expect([classifier.kexMessagesFrom('up'), classifier.kexMessagesFrom('down')], name).toEqual([[34, 32], [31, 33]]);
      expect(detections, name).toEqual([]);
    }
  });

  it('finds the real sshd running on the agent side of an outbound connection (role inversion)', async () => {
    const forward = feed(await recordOutboundSession(realLab(), ctrOptions)).classifier.facts();
    const chunks = await recordRoleInvertedSession(realLab(), ctrOptions);
    for (const [name, fed] of feedings(chunks)) {
      const { classifier, detections } = feed(fed);
      expect(detections, name).toEqual([expect.objectContaining({ type: 'reverse_tunnel', confidence: 'high', direction: 'down' })]);
      expect(classifier.roleOf('up'), name).toBe('server');
      // Facts follow the SSH roles, so the same client and server give the same fingerprints.
      const facts = classifier.facts();
      expect([facts.hassh, facts.hasshServer, facts.negotiated], name).toEqual([forward.hassh, forward.hasshServer, forward.negotiated]);
      expect(classifier.kexMessagesFrom('down'), name).toEqual([34, 32]);
    }
  });

  it('skips server pre-banner text in front of a real sshd identification', async () => {
    const chunks = await recordOutboundSession(realLab(), gcmOptions);
    const reference = feed(chunks).classifier.facts();
    const art = text(`${'  ____  ____  _   _\r\n | ___|/ ___|| | | |\r\n'.repeat(40)}`);
    const firstDown = chunks.findIndex((chunk) => chunk.direction === 'down');
    const withArt = chunks.map((chunk, index) => (index === firstDown ? { ...chunk, bytes: Buffer.concat([art, chunk.bytes]) } : chunk));
    for (const fed of [withArt, byteByByte(withArt)]) {
      expect(feed(fed).classifier.facts()).toEqual(reference);
    }
  });
});
