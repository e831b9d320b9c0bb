import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { NestedProxyClassifier } from '../../../../src/inspect/signatures/nested-proxy.js';
import type { ClassifierReport, Detection } from '../../../../src/inspect/types.js';
import { hexFixture } from '../../../fixtures/tls/client-hello-builder.js';

const bytes = (...parts: Array<number[] | string>): Buffer =>
  Buffer.concat(parts.map((part) => (typeof part === 'string' ? Buffer.from(part, 'latin1') : Buffer.from(part))));

const PROXY_V2_SIGNATURE = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a];
const NODE_CLIENT_HELLO = hexFixture(readFileSync(new URL('../../../fixtures/tls/node20-tls-connect.hex', import.meta.url), 'utf8'));

interface Outcome {
  state: ClassifierReport['state'];
  detections: Detection[];
  nestedProtocol: string | undefined;
}

function classify(input: Buffer, chunking: 'whole' | 'bytes'): Outcome {
  const classifier = new NestedProxyClassifier();
  const chunks = chunking === 'whole' ? [input] : [...input].map((byte) => Buffer.from([byte]));
  let state: ClassifierReport['state'] = 'undecided';
  const detections: Detection[] = [];
  chunks.forEach((chunk, index) => {
    const report = classifier.push(chunk, 'up', index);
    state = report.state;
    detections.push(...report.detections);
  });
  return { state, detections, nestedProtocol: classifier.nestedProtocol };
}

describe('NestedProxyClassifier recognises', () => {
  it.each([
    ['SOCKS5 greeting, no authentication', bytes([0x05, 0x01, 0x00]), 'socks', 'SOCKS5 greeting offering methods [0] inside the tunnel'],
    ['SOCKS5 greeting, no auth or user/pass (curl)', bytes([0x05, 0x02, 0x00, 0x02]), 'socks', 'SOCKS5 greeting offering methods [0, 2] inside the tunnel'],
    ['SOCKS5 greeting, a private method', bytes([0x05, 0x01, 0x80]), 'socks', 'SOCKS5 greeting offering methods [128] inside the tunnel'],
    ['SOCKS5 greeting, nine methods', bytes([0x05, 0x09, 0, 1, 2, 3, 4, 5, 6, 7, 8]), 'socks', 'SOCKS5 greeting offering methods [0, 1, 2, 3, 4, 5, 6, 7, 8] inside the tunnel'],
    ['SOCKS4 CONNECT, empty user id', bytes([0x04, 0x01, 0x00, 0x50, 93, 184, 216, 34, 0x00]), 'socks', 'SOCKS4 CONNECT to 93.184.216.34:80 inside the tunnel'],
    ['SOCKS4 BIND', bytes([0x04, 0x02, 0x1f, 0x90, 10, 0, 0, 1, 0x00]), 'socks', 'SOCKS4 BIND to 10.0.0.1:8080 inside the tunnel'],
    ['SOCKS4 CONNECT, a login as user id', bytes([0x04, 0x01, 0x0d, 0x05, 203, 0, 113, 7], 'miner-rig-0001-eu-west\0'), 'socks', 'SOCKS4 CONNECT to 203.0.113.7:3333 inside the tunnel'],
    ['SOCKS4a CONNECT by name', bytes([0x04, 0x01, 0x01, 0xbb, 0, 0, 0, 1, 0x00], 'pool.example.net\0'), 'socks', 'SOCKS4 CONNECT to 0.0.0.1:443 inside the tunnel'],
    ['PROXY v1 TCP4', bytes('PROXY TCP4 192.0.2.1 198.51.100.7 56324 443\r\n'), 'proxy-protocol', 'PROXY protocol v1 header "PROXY TCP4"'],
    ['PROXY v1 TCP6', bytes('PROXY TCP6 2001:db8::1 2001:db8::2 4124 443\r\n'), 'proxy-protocol', 'PROXY protocol v1 header "PROXY TCP6"'],
    ['PROXY v1 UNKNOWN', bytes('PROXY UNKNOWN\r\n'), 'proxy-protocol', 'PROXY protocol v1 header "PROXY UNKNOWN"'],
    ['PROXY v2 header', bytes(PROXY_V2_SIGNATURE, [0x21, 0x11, 0x00, 0x0c, 10, 0, 0, 1, 203, 0, 113, 7, 0x9c, 0x40, 0x01, 0xbb]), 'proxy-protocol', 'PROXY protocol v2 signature at the start of the tunnel'],
  ])('%s', (_name, input, protocol, evidence) => {
    for (const chunking of ['whole', 'bytes'] as const) {
      const outcome = classify(input, chunking);
      expect(outcome, chunking).toMatchObject({ state: 'identified', nestedProtocol: protocol });
      expect(outcome.detections, chunking).toEqual([expect.objectContaining({ type: 'nested_proxy', confidence: 'high', direction: 'up', evidence })]);
    }
  });

  it('reports once, at the read that completed the handshake', () => {
    const classifier = new NestedProxyClassifier();
    expect(classifier.push(bytes([0x05]), 'up', 1)).toEqual({ state: 'undecided', detections: [] });
    expect(classifier.push(bytes([0x01, 0x00]), 'up', 2).detections).toEqual([expect.objectContaining({ atMs: 2 })]);
    expect(classifier.push(bytes([0x05, 0x01, 0x00]), 'up', 3)).toEqual({ state: 'identified', detections: [] });
  });
});

describe('NestedProxyClassifier rejects', () => {
  it.each([
    ['a TLS ClientHello (Node 20)', NODE_CLIENT_HELLO],
    ['a TLS record header', bytes([0x16, 0x03, 0x01, 0x00, 0xf4, 0x01])],
    ['an HTTP GET', bytes('GET / HTTP/1.1\r\nHost: example.com\r\n\r\n')],
    ['an HTTP POST (starts with P)', bytes('POST /api HTTP/1.1\r\n')],
    ['an HTTP PUT (starts with P)', bytes('PUT /x HTTP/1.1\r\n')],
    ['an HTTP PATCH (starts with P)', bytes('PATCH /x HTTP/1.1\r\n')],
    ['the HTTP/2 preface (starts with P)', bytes('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n')],
    ['a JSON line', bytes('{"id":1,"method":"mining.subscribe","params":[]}\n')],
    ['an SSH identification', bytes('SSH-2.0-OpenSSH_9.6\r\n')],
    ['SOCKS5 with no methods', bytes([0x05, 0x00])],
    ['SOCKS5 with ten methods', bytes([0x05, 0x0a, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9])],
    ['SOCKS5 with an unassigned method', bytes([0x05, 0x01, 0x0a])],
    ['SOCKS4 with an unknown command', bytes([0x04, 0x03, 0x00, 0x50, 1, 2, 3, 4, 0x00])],
    ['SOCKS4 to port 0', bytes([0x04, 0x01, 0x00, 0x00, 1, 2, 3, 4, 0x00])],
    ['SOCKS4-like bytes with no end to the user id', bytes([0x04, 0x01, 0x00, 0x50, 1, 2, 3, 4], 'x'.repeat(100))],
    ['PROXY v1 with an unknown family', bytes('PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n')],
    ['PROXY without a space', bytes('PROXY\r\n')],
    ['a near miss of the PROXY v2 signature', bytes(PROXY_V2_SIGNATURE.map((byte, i) => (i === 11 ? 0x0b : byte)))],
    ['a blank line', bytes('\r\n\r\nhello')],
  ])('%s', (_name, input) => {
    expect(classify(input, 'whole').state).toBe('rejected');
    expect(classify(input, 'bytes')).toEqual({ state: 'rejected', detections: [], nestedProtocol: undefined });
  });
});

describe('NestedProxyClassifier limits', () => {
  it('recognises a greeting and its CONNECT request sent in one write, whatever the chunking', () => {
    const pipelined = bytes([0x05, 0x01, 0x00, 0x05, 0x01, 0x00, 0x01, 203, 0, 113, 7, 0x0d, 0x05]);
    expect(classify(pipelined, 'whole').state).toBe('identified');
    expect(classify(pipelined, 'bytes').state).toBe('identified');
  });

  it('rejects a greeting-shaped start followed by bytes that are not a SOCKS request', () => {
    expect(classify(bytes([0x05, 0x01, 0x00, 0x17, 0x03, 0x03]), 'whole').state).toBe('rejected');
  });

  it('decides text starting "PROXY " by the family, without waiting for more bytes', () => {
    const classifier = new NestedProxyClassifier();
    expect(classifier.push(bytes('PROXY T'), 'up', 0).state).toBe('undecided');
    expect(classifier.push(bytes('LS'), 'up', 1).state).toBe('rejected');
  });
});

describe('NestedProxyClassifier waits', () => {
  it.each([
    ['a lone SOCKS5 version byte', bytes([0x05])],
    ['a SOCKS5 greeting missing its methods', bytes([0x05, 0x02, 0x00])],
    ['a SOCKS4 request before the user id ends', bytes([0x04, 0x01, 0x00, 0x50, 1, 2, 3, 4], 'alice')],
    ['the start of PROXY', bytes('PROX')],
    ['PROXY and a short family', bytes('PROXY TCP4')],
    ['half the PROXY v2 signature', bytes(PROXY_V2_SIGNATURE.slice(0, 6))],
  ])('on %s', (_name, input) => {
    expect(classify(input, 'whole').state).toBe('undecided');
  });

  it('ignores the destination (only the agent opens a nested handshake)', () => {
    const classifier = new NestedProxyClassifier();
    expect(classifier.push(bytes([0x05, 0x00]), 'down', 0)).toEqual({ state: 'undecided', detections: [] });
    expect(classifier.push(bytes([0x05, 0x01, 0x00]), 'up', 1).state).toBe('identified');
  });
});
