/**
 * The encrypted-phase reverse-tunnel analyser on synthetic packet sequences: sizes per cipher and MAC
 * (checked against the table of protocol notes §2.3, itself checked against FoxIO's ssh-r.pcap), exact
 * framing under any chunking, and each rule firing — or not — on the sequences OpenSSH produces.
 * Real OpenSSH sessions are covered by test/integration/reverse-tunnel-ssh.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { packetGeometry, wireSize, type PacketGeometry } from '../../../src/inspect/ssh/behaviour/packet-sizes.js';
import { ReverseTunnelAnalyser, type BehaviourFinding } from '../../../src/inspect/ssh/behaviour/reverse-tunnel-analyser.js';
import { UnitFramer } from '../../../src/inspect/ssh/behaviour/unit-framer.js';

function geometry(cipher: string, mac?: string, compression = 'none'): PacketGeometry {
  const aead = cipher.includes('gcm') || cipher.startsWith('chacha20');
  const result = packetGeometry({ cipher, ...(mac && !aead ? { mac } : {}), compression, aead });
  if ('unpredictable' in result) throw new Error(result.unpredictable);
  return result;
}

const CHACHA = geometry('chacha20-poly1305@openssh.com');
const GCM = geometry('aes128-gcm@openssh.com');
const CTR_SHA256 = geometry('aes128-ctr', 'hmac-sha2-256');
const CTR_SHA256_ETM = geometry('aes128-ctr', 'hmac-sha2-256-etm@openssh.com');
const CTR_SHA1 = geometry('aes256-ctr', 'hmac-sha1');
const CTR_UMAC64_ETM = geometry('aes128-ctr', 'umac-64-etm@openssh.com');

describe('packet sizes', () => {
  // Rows of protocol notes §2.3 "Wire sizes": payload length → sizes per column.
  it.each([
    ['SERVICE_REQUEST', 17, [44, 52, 64, 68, 52, 44]],
    ['USERAUTH_SUCCESS', 1, [28, 36, 48, 52, 36, 28]],
    ['tcpip-forward "localhost"', 36, [68, 68, 80, 84, 68, 60]],
    ['CHANNEL_OPEN session', 24, [52, 52, 80, 68, 68, 44]],
    ['no-more-sessions', 34, [60, 68, 80, 84, 68, 60]],
    ['forwarded-tcpip localhost/127.0.0.1', 66, [92, 100, 112, 116, 100, 92]],
    ['1-byte keystroke', 10, [36, 36, 64, 52, 52, 28]],
  ])('%s (payload %i) matches the table for every cipher column', (_name, payload, expected) => {
    const columns = [CHACHA, GCM, CTR_SHA256, CTR_SHA256_ETM, CTR_SHA1, CTR_UMAC64_ETM];
    expect(columns.map((column) => wireSize(column, payload))).toEqual(expected);
  });

  it('gives the wrapped keystroke sizes of the table (inner keystroke in outer CHANNEL_DATA)', () => {
    expect(wireSize(CHACHA, 9 + 36)).toBe(76);
    expect(wireSize(GCM, 9 + 36)).toBe(84);
    expect(wireSize(CTR_SHA256, 9 + 64)).toBe(128);
  });

  it('says which framings expose the length, and refuses what it cannot predict', () => {
    expect([CHACHA, GCM, CTR_SHA256, CTR_SHA256_ETM].map((g) => g.lengthInClear)).toEqual([false, true, false, true]);
    expect(packetGeometry({ cipher: 'aes128-ctr', mac: 'hmac-sha2-256', compression: 'zlib@openssh.com', aead: false })).toMatchObject({ unpredictable: expect.stringContaining('compression') });
    expect(packetGeometry({ cipher: 'aes128-ctr', mac: 'hmac-whirlpool', aead: false })).toMatchObject({ unpredictable: expect.stringContaining('unknown MAC') });
    expect(packetGeometry({ cipher: 'serpent-ctr-not-really', aead: false })).toMatchObject({ unpredictable: expect.stringContaining('MAC') });
  });
});

/** An encrypted packet of `payload` bytes as it looks on the wire (clear length where the geometry has one). */
function packet(g: PacketGeometry, payload: number): Buffer {
  const size = wireSize(g, payload);
  const bytes = Buffer.alloc(size, 0xa5);
  bytes.writeUInt32BE(size - 4 - g.tagBytes, 0);
  return bytes;
}

describe('UnitFramer', () => {
  it('splits coalesced GCM packets exactly, whatever the chunking', () => {
    const stream = Buffer.concat([packet(GCM, 36), packet(GCM, 24), packet(GCM, 34), packet(GCM, 500)]);
    for (const step of [1, 3, 7, 64, stream.length]) {
      const units: number[] = [];
      const framer = new UnitFramer(GCM, (size) => units.push(size));
      for (let offset = 0; offset < stream.length; offset += step) framer.push(stream.subarray(offset, offset + step), 0);
      expect(units).toEqual([68, 52, 68, wireSize(GCM, 500)]);
    }
  });

  it('treats reads as units when the length is encrypted, and falls back to reads when a length is absurd', () => {
    const units: number[] = [];
    new UnitFramer(CHACHA, (size) => units.push(size)).push(Buffer.alloc(112), 0);
    expect(units).toEqual([112]);
    const fallback: number[] = [];
    const framer = new UnitFramer(GCM, (size) => fallback.push(size));
    framer.push(Buffer.from([0xff, 0xff, 0xff, 0xff, 1, 2, 3]), 0);
    framer.push(Buffer.alloc(10), 1);
    expect(framer.framesPackets).toBe(false);
    expect(fallback).toEqual([3, 10]);
  });
});

// ---- sequences -----------------------------------------------------------------------------------

type Step = ['C' | 'S', number | number[], number?];

/**
 * Feeds a sequence of reads: side, payload length(s) of the packets in that read (several = coalesced),
 * and the time (default: 1 ms after the previous step).
 */
function run(g: PacketGeometry, steps: Step[]): BehaviourFinding[] {
  const analyser = new ReverseTunnelAnalyser(g, g);
  const findings: BehaviourFinding[] = [];
  let time = 0;
  for (const [side, payloads, at] of steps) {
    time = at ?? time + 1;
    const bytes = Buffer.concat((Array.isArray(payloads) ? payloads : [payloads]).map((payload) => packet(g, payload)));
    findings.push(...analyser.push(bytes, side === 'C' ? 'client' : 'server', time));
  }
  return findings;
}

/** Payload lengths: OpenSSH's pre-auth exchange, ending with USERAUTH_SUCCESS. */
const LOGIN: Step[] = [
  ['S', 280], // EXT_INFO
  ['C', 17], ['S', 17], // SERVICE_REQUEST / ACCEPT
  ['C', 30], ['S', 15], // USERAUTH none / FAILURE
  ['C', 110], ['S', 70], // publickey query / PK_OK
  ['C', 270], ['S', 1], // publickey / SUCCESS
];
const TCPIP_FORWARD_LOCALHOST = 36;
const SESSION_OPEN = 24;
const NO_MORE_SESSIONS = 34;
const HOSTKEYS = 84;
const FORWARDED_TCPIP = 66;
const OPEN_CONFIRMATION = 17;
const BANNER_DATA = 9 + 41;
const KEXINIT_DATA = 9 + 1100;

const REVERSE_SESSION: Step[] = [
  ...LOGIN,
  ['C', [TCPIP_FORWARD_LOCALHOST, SESSION_OPEN, NO_MORE_SESSIONS]],
  ['S', [HOSTKEYS, 5, OPEN_CONFIRMATION]],
  ['C', 200], ['S', 5], // pty/shell requests, CHANNEL_SUCCESS
  ['S', FORWARDED_TCPIP, 5000], ['C', OPEN_CONFIRMATION, 5001],
  ['C', BANNER_DATA], ['S', BANNER_DATA], ['C', KEXINIT_DATA], ['S', KEXINIT_DATA],
];

describe('ReverseTunnelAnalyser', () => {
  it('reports ssh -R at medium on the request, then high when the server opens a channel and SSH runs in it (GCM, exact framing)', () => {
    const findings = run(GCM, REVERSE_SESSION);
    expect(findings.map((f) => [f.rule, f.confidence])).toEqual([['remote-forward', 'medium'], ['server-opened-channel', 'high'], ['inner-ssh', 'high']]);
    expect(findings[0]?.evidence).toMatch(/tcpip-forward-sized request \(68 bytes\).*followed by the session open/);
    expect(findings[1]?.evidence).toMatch(/server opened a channel \(100 bytes/);
    expect(findings[1]?.atMs).toBe(5000);
  });

  it('finds the request inside a coalesced read when lengths are hidden (chacha20), and under ctr + etm', () => {
    for (const g of [CHACHA, CTR_SHA256_ETM]) {
      const findings = run(g, REVERSE_SESSION);
      expect(findings.map((f) => f.confidence)).toEqual(['medium', 'high', 'high']);
    }
    expect(run(CHACHA, REVERSE_SESSION)[0]?.evidence).toMatch(/68 \(in a 180-byte read\)/);
  });

  it('reports the inner SSH session at high when no request was seen before the server-opened channel', () => {
    // A session opened first (no -R on the command line), then a server-opened channel carrying SSH.
    const steps: Step[] = [...LOGIN, ['C', [SESSION_OPEN, NO_MORE_SESSIONS]], ...REVERSE_SESSION.slice(LOGIN.length + 2)];
    const findings = run(GCM, steps);
    expect(findings.map((f) => [f.rule, f.confidence])).toEqual([['inner-ssh', 'high']]);
  });

  it('waits for the reply when a tcpip-forward has the size of no-more-sessions (GCM, ssh -N)', () => {
    // ssh -N -R: tcpip-forward (68) then no-more-sessions (68); the server answers the request.
    const reverse = run(GCM, [...LOGIN, ['C', TCPIP_FORWARD_LOCALHOST], ['C', NO_MORE_SESSIONS], ['S', HOSTKEYS], ['S', 5]]);
    expect(reverse.map((f) => f.rule)).toEqual(['remote-forward']);
    // ssh -N -L: no-more-sessions alone, nothing answers it; a direct-tcpip open comes later.
    const local = run(GCM, [...LOGIN, ['C', NO_MORE_SESSIONS], ['S', HOSTKEYS], ['C', 63], ['S', OPEN_CONFIRMATION], ['C', 9 + 20], ['S', 9 + 20]]);
    expect(local).toEqual([]);
  });

  it('does not take the session open for a confirmation of the server\'s host-key notice (ctr + etm: same sizes)', () => {
    // Seen with real OpenSSH: tcpip-forward, then hostkeys-00 from the server, then the session open.
    const findings = run(CTR_SHA256_ETM, [...LOGIN, ['C', TCPIP_FORWARD_LOCALHOST], ['S', [HOSTKEYS, 130]], ['C', [SESSION_OPEN, NO_MORE_SESSIONS]], ['S', [5, OPEN_CONFIRMATION]]]);
    expect(findings.map((f) => [f.rule, f.confidence])).toEqual([['remote-forward', 'medium']]);
  });

  it('ignores a keepalive look-alike long after authentication', () => {
    const keepaliveLike = 27; // tcpip-forward for "" and keepalive@openssh.com have the same payload length
    expect(run(CTR_SHA1, [...LOGIN, ['C', keepaliveLike, 10_000], ['S', 1]])).toEqual([]);
  });

  it('raises nothing for a forward interactive session (keystrokes from the client, echoes from the server)', () => {
    const typing: Step[] = [];
    let time = 1000;
    for (let i = 0; i < 40; i++) {
      typing.push(['C', 10, (time += 150)], ['S', 10, time + 6]);
    }
    expect(run(CHACHA, [...LOGIN, ['C', [SESSION_OPEN, NO_MORE_SESSIONS]], ['S', [HOSTKEYS, OPEN_CONFIRMATION]], ...typing])).toEqual([]);
  });

  it('reports wrapped keystrokes driven from the server and answered locally faster than the server turns around', () => {
    const login: Step[] = LOGIN.map(([side, payload], index) => [side, payload, index * 10]);
    const keystrokes: Step[] = [];
    let time = 1000;
    for (let i = 0; i < 8; i++) keystrokes.push(['S', 9 + 36, (time += 200)], ['C', 9 + 36, time + 0.4]);
    const findings = run(CHACHA, [...login, ['C', [SESSION_OPEN, NO_MORE_SESSIONS], 200], ['S', HOSTKEYS, 210], ...keystrokes]);
    expect(findings.map((f) => [f.rule, f.confidence])).toEqual([['wrapped-keystrokes', 'high']]);
    expect(findings[0]?.evidence).toMatch(/6 server-initiated 76-byte units [^;]*; median local answer 0\.40 ms vs the server's own turnaround 10 ms/);
  });

  it('stops inspecting a quiet session after a bounded number of units', () => {
    const analyser = new ReverseTunnelAnalyser(GCM, GCM);
    const steps: Step[] = [...LOGIN, ['C', [SESSION_OPEN, NO_MORE_SESSIONS]]];
    let time = 0;
    for (const [side, payloads] of steps) {
      analyser.push(Buffer.concat((Array.isArray(payloads) ? payloads : [payloads]).map((p) => packet(GCM, p))), side === 'C' ? 'client' : 'server', (time += 1));
    }
    for (let i = 0; i < 200 && !analyser.finished; i++) analyser.push(packet(GCM, 9 + 1000), 'server', (time += 1));
    expect(analyser.finished).toBe(true);
  });
});
