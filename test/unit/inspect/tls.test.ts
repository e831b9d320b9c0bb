import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isGrease, parseClientHello, type ClientHelloInfo } from '../../../src/inspect/tls/client-hello.js';
import { ja3, ja4 } from '../../../src/inspect/tls/ja4.js';
import { CLIENT_HELLO_CAP } from '../../../src/inspect/tls/reassembly.js';
import { parseSslv2ClientHello } from '../../../src/inspect/tls/sslv2-hello.js';
import { TlsClassifier } from '../../../src/inspect/tls/tls-classifier.js';
import type { TlsFacts } from '../../../src/inspect/types.js';
import { captureClientHello } from '../../fixtures/tls/capture-client-hello.js';
import {
  bodyFromVector,
  clientHelloBody,
  extension,
  handshakeMessage,
  hexFixture,
  sslv2ClientHello,
  tlsRecords,
  type Extension,
  type VectorFields,
} from '../../fixtures/tls/client-hello-builder.js';
import { PUBLISHED_VECTORS } from '../../fixtures/tls/published-vectors.js';

const fixture = (name: string): Buffer =>
  hexFixture(readFileSync(new URL(`../../fixtures/tls/${name}`, import.meta.url), 'utf8'));

function parsed(body: Buffer): ClientHelloInfo {
  const result = parseClientHello(body);
  if ('error' in result) throw new Error(`unexpected parse error: ${result.error}`);
  return result;
}

function parseError(body: Buffer): string | undefined {
  const result = parseClientHello(body);
  return 'error' in result ? result.error : undefined;
}

const helloFromVector = (fields: VectorFields): ClientHelloInfo => parsed(bodyFromVector(fields));

/** Feeds `chunks` as `up` bytes; returns the classifier and the state after each push. */
function classify(chunks: readonly Buffer[]): { classifier: TlsClassifier; states: string[] } {
  const classifier = new TlsClassifier();
  const states = chunks.map((chunk, i) => classifier.push(chunk, 'up', i).state);
  return { classifier, states };
}

function factsOf(chunks: readonly Buffer[]): TlsFacts | undefined {
  const { classifier, states } = classify(chunks);
  expect(states.at(-1)).toBe('identified');
  return classifier.facts();
}

const byteByByte = (bytes: Buffer): Buffer[] => [...bytes].map((byte) => Buffer.from([byte]));

/** The handshake message carried by a sequence of TLS records. */
function handshakeOf(records: Buffer): Buffer {
  const payloads: Buffer[] = [];
  let offset = 0;
  while (offset < records.length) {
    const length = records.readUInt16BE(offset + 3);
    payloads.push(records.subarray(offset + 5, offset + 5 + length));
    offset += 5 + length;
  }
  return Buffer.concat(payloads);
}

const CHROME_SPEC_VECTOR: VectorFields = PUBLISHED_VECTORS[0]!.fields;
const chromeMessage = (): Buffer => handshakeMessage(bodyFromVector(CHROME_SPEC_VECTOR));

/** A hello whose handshake message is exactly `messageLength` bytes, grown with a padding extension (0x0015). */
function paddedHelloMessage(messageLength: number): Buffer {
  const withPadding = (size: number): Buffer =>
    clientHelloBody({
      cipherSuites: [0x1301, 0x1302],
      extensions: [
        extension.serverName('big.example'),
        extension.supportedVersions([0x0304]),
        extension.opaque(0x0015, Buffer.alloc(size)),
      ],
    });
  return handshakeMessage(withPadding(messageLength - 4 - withPadding(0).length));
}

// Captured on this machine by test/fixtures/tls/capture-client-hello.ts (see its README).
const REAL_HELLOS: { file: string; sni: string; alpn: string[]; versions: string[] }[] = [
  { file: 'node20-tls-connect.hex', sni: 'example.com', alpn: ['h2', 'http/1.1'], versions: ['1.3', '1.2'] },
  { file: 'curl-7.88.1.hex', sni: 'api.example.org', alpn: ['h2', 'http/1.1'], versions: ['1.3', '1.2', '1.1', '1.0'] },
  { file: 'openssl-3.0-s_client.hex', sni: 'pool.example.net', alpn: ['stratum'], versions: ['1.3', '1.2', '1.1', '1.0'] },
];

describe('isGrease', () => {
  it('recognises exactly the sixteen RFC 8701 values', () => {
    const grease = Array.from({ length: 0x10000 }, (_, value) => value).filter(isGrease);
    expect(grease).toEqual(Array.from({ length: 16 }, (_, i) => i * 0x1010 + 0x0a0a));
  });
});

describe('JA4 and JA3 against published vectors', () => {
  for (const vector of PUBLISHED_VECTORS) {
    it(`${vector.name} (${vector.source})`, () => {
      const hello = helloFromVector(vector.fields);
      if (vector.ja4 !== undefined) expect(ja4(hello)).toBe(vector.ja4);
      if (vector.ja3 !== undefined) expect(ja3(hello)).toEqual(vector.ja3);
    });
  }

  it('the JA4 spec example without signature algorithms drops the underscore (spec: 6d807ffa2a79)', () => {
    // The spec's own worked example: extension 0x000d present but carrying no algorithms.
    const hello = helloFromVector({ ...CHROME_SPEC_VECTOR, signatureAlgorithms: [] });
    expect(ja4(hello)).toBe('t13d1516h2_8daaf6152771_6d807ffa2a79');
  });

  it('a real openssl hello gives the JA3 that openssl -trace decodes for it', () => {
    // Field lists as printed by `openssl s_client -trace` for this very capture.
    const facts = factsOf([fixture('openssl-3.0-s_client.hex')]);
    expect(facts?.ja3).toBe(
      '771,4866-4867-4865-49196-49200-159-52393-52392-52394-49195-49199-158-49188-49192-107-49187-49191-103-' +
        '49162-49172-57-49161-49171-51-157-156-61-60-53-47-255,0-11-10-35-16-22-23-13-43-45-51,' +
        '29-23-30-25-24-256-257-258-259-260,0-1-2',
    );
    // 31 suites and 11 extensions per the trace; "stratum" gives "sm".
    expect(facts?.ja4.slice(0, 10)).toBe('t13d3111sm');
  });
});

describe('JA4 details', () => {
  const withAlpn = (...protocols: (string | Buffer)[]): string =>
    ja4(helloFromVector({ ...CHROME_SPEC_VECTOR, alpn: protocols })).slice(8, 10);

  it('ALPN marker: first and last characters of the first value', () => {
    expect(withAlpn('h2', 'http/1.1')).toBe('h2');
    expect(withAlpn('http/1.1', 'h2')).toBe('h1');
    expect(withAlpn('x')).toBe('xx'); // spec: a single character is both first and last (references: "x0")
    expect(withAlpn('')).toBe('00');
    expect(withAlpn()).toBe('00');
    expect(ja4(helloFromVector({ ...CHROME_SPEC_VECTOR, extensionTypes: [0x0000, 0x002b] })).slice(8, 10)).toBe('00');
  });

  it('ALPN marker: the spec hex rule for non-alphanumeric first or last bytes', () => {
    // The five examples of technical_details/JA4.md (the Python reference would print '9's instead).
    expect(withAlpn(Buffer.from([0xab]))).toBe('ab');
    expect(withAlpn(Buffer.from([0xab, 0xcd]))).toBe('ad');
    expect(withAlpn(Buffer.from([0x30, 0xab]))).toBe('3b');
    expect(withAlpn(Buffer.from([0x30, 0x31, 0xab, 0xcd]))).toBe('3d');
    expect(withAlpn(Buffer.from([0x30, 0xab, 0xcd, 0x31]))).toBe('01');
  });

  it('counts are capped at 99, GREASE excluded, SNI and ALPN included', () => {
    const manySuites = Array.from({ length: 120 }, (_, i) => 0x0100 + i);
    const manyExtensions = Array.from({ length: 110 }, (_, i) => 0x3000 + i);
    const hello = helloFromVector({ cipherSuites: manySuites, extensionTypes: manyExtensions });
    expect(ja4(hello).slice(0, 10)).toBe('t12i999900');
    const small = helloFromVector({ cipherSuites: [0x0a0a, 0x1301], extensionTypes: [0x1a1a, 0x0000, 0x0010], alpn: ['h2'] });
    expect(ja4(small).slice(0, 10)).toBe('t12d0102h2');
  });

  it('empty lists print 000000000000', () => {
    // Only SNI and ALPN: nothing left to hash in part c.
    const onlySniAlpn = helloFromVector({ cipherSuites: [0x1301], extensionTypes: [0x0000, 0x0010], alpn: ['h2'] });
    expect(ja4(onlySniAlpn)).toMatch(/^t12d0102h2_[0-9a-f]{12}_000000000000$/);
    const noExtensions = helloFromVector({ cipherSuites: [0x002f], extensionTypes: [] });
    expect(ja4(noExtensions)).toMatch(/^t12i010000_[0-9a-f]{12}_000000000000$/);
    // An SSLv2 hello offering only SSLv2-only cipher kinds has no TLS suite at all.
    const v2 = parseSslv2ClientHello(sslv2ClientHello(0x0002, [0x010080, 0x070040]).subarray(2));
    expect('error' in v2 ? v2.error : ja4(v2)).toBe('ts2i000000_000000000000_000000000000');
  });

  it('version: highest non-GREASE supported_versions, else the legacy version, else 00', () => {
    const version = (fields: Partial<VectorFields>): string =>
      ja4(helloFromVector({ cipherSuites: [0x1301], extensionTypes: [0x002b], ...fields })).slice(1, 3);
    expect(version({ supportedVersions: [0x3a3a, 0x0303, 0x0304] })).toBe('13');
    expect(version({ supportedVersions: [0x0302, 0x0301] })).toBe('11');
    expect(version({ supportedVersions: [0x4a4a], legacyVersion: 0x0303 })).toBe('12');
    expect(version({ extensionTypes: [], legacyVersion: 0x0300 })).toBe('s3');
    expect(version({ extensionTypes: [], legacyVersion: 0x0305 })).toBe('00');
  });

  it('GREASE signature algorithms are ignored; the others keep wire order', () => {
    const plain = helloFromVector(CHROME_SPEC_VECTOR);
    const greased = helloFromVector({
      ...CHROME_SPEC_VECTOR,
      signatureAlgorithms: [0x0a0a, ...(CHROME_SPEC_VECTOR.signatureAlgorithms ?? [])],
    });
    expect(ja4(greased)).toBe(ja4(plain));
    const reordered = helloFromVector({
      ...CHROME_SPEC_VECTOR,
      signatureAlgorithms: [...(CHROME_SPEC_VECTOR.signatureAlgorithms ?? [])].reverse(),
    });
    expect(ja4(reordered).slice(0, 24)).toBe(ja4(plain).slice(0, 24));
    expect(ja4(reordered)).not.toBe(ja4(plain));
  });

  it('extension order does not change JA4 but changes JA3', () => {
    const shuffled = { ...CHROME_SPEC_VECTOR, extensionTypes: [...CHROME_SPEC_VECTOR.extensionTypes].reverse() };
    expect(ja4(helloFromVector(shuffled))).toBe(ja4(helloFromVector(CHROME_SPEC_VECTOR)));
    expect(ja3(helloFromVector(shuffled)).hash).not.toBe(ja3(helloFromVector(CHROME_SPEC_VECTOR)).hash);
  });
});

describe('parseClientHello', () => {
  it('reads every field the fingerprints and facts need', () => {
    const hello = helloFromVector({
      cipherSuites: [0x2a2a, 0x1301, 0xc02f],
      extensionTypes: [0x0000, 0x0010, 0x002b, 0x000a, 0x000b, 0x000d, 0xfe0d],
      serverName: 'Mixed.Case.Example',
      alpn: ['h2', 'http/1.1'],
      supportedVersions: [0x0304, 0x0303],
      supportedGroups: [0x001d, 0x0017],
      ecPointFormats: [0, 1],
      signatureAlgorithms: [0x0804, 0x0403],
    });
    expect(hello).toEqual({
      legacyVersion: 0x0303,
      cipherSuites: [0x2a2a, 0x1301, 0xc02f],
      extensionTypes: [0x0000, 0x0010, 0x002b, 0x000a, 0x000b, 0x000d, 0xfe0d],
      serverName: 'mixed.case.example',
      alpnProtocols: [Buffer.from('h2'), Buffer.from('http/1.1')],
      supportedVersions: [0x0304, 0x0303],
      supportedGroups: [0x001d, 0x0017],
      ecPointFormats: [0, 1],
      signatureAlgorithms: [0x0804, 0x0403],
      ech: true,
      sslv2Compat: false,
    });
  });

  it('escapes non-printable SNI bytes so a name cannot smuggle control characters', () => {
    const body = clientHelloBody({
      cipherSuites: [0x1301],
      extensions: [extension.serverName(Buffer.from('evil.test\x00.Allowed.example\\\n', 'latin1'))],
    });
    expect(parsed(body).serverName).toBe('evil.test\\x00.allowed.example\\x5c\\x0a');
  });

  it('accepts a hello without extensions (SSL 3.0 style)', () => {
    const hello = parsed(clientHelloBody({ legacyVersion: 0x0300, cipherSuites: [0x000a], extensions: [] }));
    expect(hello.extensionTypes).toEqual([]);
    expect(hello.serverName).toBeUndefined();
  });

  it('every truncation of a valid body is an error, except the one ending before the extensions', () => {
    const body = bodyFromVector(CHROME_SPEC_VECTOR);
    const extensionsStart = offsetAfterCompressionMethods(body);
    for (let length = 0; length < body.length; length += 1) {
      const error = parseError(body.subarray(0, length));
      if (length === extensionsStart) expect(error).toBeUndefined();
      else expect(error, `prefix of ${length} bytes`).toBeDefined();
    }
  });

  it('refuses malformed lengths and ambiguous duplicates', () => {
    const withExtensions = (...extensions: Extension[]): Buffer => clientHelloBody({ cipherSuites: [0x1301], extensions });
    const cases: [string, Buffer][] = [
      ['odd cipher_suites length', Buffer.concat([Buffer.from('0303', 'hex'), Buffer.alloc(33), Buffer.from('0003130113', 'hex'), Buffer.from('0100', 'hex')])],
      ['session id over 32 bytes', Buffer.concat([Buffer.from('0303', 'hex'), Buffer.alloc(32), Buffer.from([33]), Buffer.alloc(33)])],
      ['duplicate SNI', withExtensions(extension.serverName('a.example'), extension.serverName('b.example'))],
      ['ALPN list longer than its extension', withExtensions(extension.opaque(0x0010, Buffer.from('000503683202', 'hex')))],
      ['supported_versions odd length', withExtensions(extension.opaque(0x002b, Buffer.from('03030403', 'hex')))],
      ['server_name list shorter than its extension', withExtensions(extension.opaque(0x0000, Buffer.from('0000ff', 'hex')))],
      ['trailing byte after the extensions', Buffer.concat([withExtensions(extension.serverName('a.example')), Buffer.from([0])])],
    ];
    for (const [name, body] of cases) expect(parseError(body), name).toBeDefined();
  });
});

/** Where the optional extensions block starts: after version, random, session id, suites and compression methods. */
function offsetAfterCompressionMethods(body: Buffer): number {
  let offset = 2 + 32;
  offset += 1 + body.readUInt8(offset);
  offset += 2 + body.readUInt16BE(offset);
  return offset + 1 + body.readUInt8(offset);
}

describe('TlsClassifier on real hellos captured on this machine', () => {
  for (const real of REAL_HELLOS) {
    describe(real.file, () => {
      const records = fixture(real.file);
      const expectedFacts = (): TlsFacts | undefined => factsOf([records]);

      it('reports SNI, ALPN and versions', () => {
        const expected = expectedFacts();
        expect(expected).toMatchObject({ sni: real.sni, alpn: real.alpn, versions: real.versions, ech: false });
        expect(expected?.ja4).toMatch(/^t13d\d{4}[a-z0-9]{2}_[0-9a-f]{12}_[0-9a-f]{12}$/);
      });

      it('byte by byte: undecided until the last byte', () => {
        const { classifier, states } = classify(byteByByte(records));
        expect(states.slice(0, -1).every((state) => state === 'undecided')).toBe(true);
        expect(states.at(-1)).toBe('identified');
        expect(classifier.facts()).toEqual(expectedFacts());
      });

      it('split in two at every offset', () => {
        const expected = expectedFacts();
        for (let split = 1; split < records.length; split += 1) {
          const { classifier } = classify([records.subarray(0, split), records.subarray(split)]);
          expect(classifier.facts(), `split at ${split}`).toEqual(expected);
        }
      });

      it('coalesced with the data that follows it', () => {
        const changeCipherSpec = Buffer.from('140303000101', 'hex');
        const applicationData = Buffer.from('1703030010', 'hex');
        const coalesced = Buffer.concat([records, changeCipherSpec, applicationData, Buffer.alloc(16, 7)]);
        expect(factsOf([coalesced])).toEqual(expectedFacts());
      });

      it('re-fragmented over many records, fed whole and byte by byte', () => {
        const expected = expectedFacts();
        for (const sizes of [[1], [2, 3], [7], [100, 1], [300]]) {
          const fragmented = tlsRecords(handshakeOf(records), sizes);
          expect(factsOf([fragmented]), `records of ${sizes.join('/')}`).toEqual(expected);
          expect(factsOf(byteByByte(fragmented))).toEqual(expected);
        }
      });
    });
  }
});

describe('TlsClassifier on hellos captured live', () => {
  const has = (command: string, versionFlag: string): boolean => spawnSync(command, [versionFlag]).status === 0;

  it('node tls.connect with SNI and ALPN', async () => {
    const records = await captureClientHello((port) => {
      const socket = tls.connect({ port, host: '127.0.0.1', servername: 'live.example', ALPNProtocols: ['h2', 'http/1.1'] });
      socket.on('error', () => socket.destroy());
    });
    expect(factsOf([records])).toMatchObject({ sni: 'live.example', alpn: ['h2', 'http/1.1'], ech: false });
    expect(factsOf(byteByByte(records))).toEqual(factsOf([records]));
  });

  it('node tls.connect to an address sends no SNI: JA4 says "i"', async () => {
    const records = await captureClientHello((port) => {
      const socket = tls.connect({ port, host: '127.0.0.1' });
      socket.on('error', () => socket.destroy());
    });
    const facts = factsOf([records]);
    expect(facts?.sni).toBeUndefined();
    expect(facts?.alpn).toEqual([]);
    expect(facts?.ja4).toMatch(/^t13i\d{4}00_/);
  });

  it.skipIf(!has('curl', '--version'))('curl', async () => {
    let child: ReturnType<typeof spawn> | undefined;
    const records = await captureClientHello((port) => {
      child = spawn('curl', ['-sk', '--http1.1', '--resolve', `curl.example:${port}:127.0.0.1`, `https://curl.example:${port}/`], {
        stdio: 'ignore',
      });
    });
    child?.kill();
    expect(factsOf([records])).toMatchObject({ sni: 'curl.example', alpn: ['http/1.1'] });
  });

  it.skipIf(!has('openssl', 'version'))('openssl s_client', async () => {
    let child: ReturnType<typeof spawn> | undefined;
    const records = await captureClientHello((port) => {
      child = spawn('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'ossl.example', '-alpn', 'x'], {
        stdio: ['pipe', 'ignore', 'ignore'],
      });
    });
    child?.kill();
    const facts = factsOf([records]);
    expect(facts).toMatchObject({ sni: 'ossl.example', alpn: ['x'] });
    expect(facts?.ja4.slice(8, 10)).toBe('xx');
  });
});

describe('TlsClassifier framing', () => {
  it('reassembles a hello larger than one record (30 KiB, three records)', () => {
    const message = paddedHelloMessage(30 * 1024);
    const records = tlsRecords(message);
    expect(records.readUInt16BE(3)).toBe(16384);
    expect(factsOf([records])?.sni).toBe('big.example');
    expect(factsOf(byteByByte(records))?.sni).toBe('big.example');
  });

  it('accepts a hello of exactly the cap and rejects one byte more as hello-too-large, before buffering it', () => {
    expect(factsOf([tlsRecords(paddedHelloMessage(CLIENT_HELLO_CAP))])?.sni).toBe('big.example');
    const tooLarge = tlsRecords(paddedHelloMessage(CLIENT_HELLO_CAP + 1));
    // The 4-byte handshake header alone decides it.
    const { classifier, states } = classify([tooLarge.subarray(0, 8), tooLarge.subarray(8, 9)]);
    expect(states).toEqual(['undecided', 'rejected']);
    expect(classifier.rejection?.reason).toBe('hello-too-large');
    expect(classifier.bufferedBytes).toBe(0);
  });

  it('rejects non-TLS input at the first byte', () => {
    for (const text of ['GET / HTTP/1.1\r\n', 'SSH-2.0-OpenSSH_9.6\r\n', '\x05\x01\x00', '{"id":1}']) {
      const { classifier, states } = classify([Buffer.from(text.slice(0, 1), 'latin1')]);
      expect(states, text).toEqual(['rejected']);
      expect(classifier.rejection?.reason).toBe('not-tls');
    }
  });

  it('rejects bad record headers as soon as the offending byte arrives', () => {
    const cases: [string, string, number][] = [
      ['record version major', '16 02', 2],
      ['record version minor', '16 03 05', 3],
      ['empty record', '16 03 01 00 00', 5],
      ['record over 2^14', '16 03 01 40 01', 5],
    ];
    for (const [name, hex, decidedAt] of cases) {
      const { classifier, states } = classify(byteByByte(Buffer.from(hex.replace(/ /g, ''), 'hex')));
      expect(states.indexOf('rejected'), name).toBe(decidedAt - 1);
      expect(classifier.rejection?.reason).toBe('bad-record');
    }
  });

  it('rejects a handshake that is not a ClientHello at its type byte', () => {
    const serverHello = tlsRecords(handshakeMessage(bodyFromVector(CHROME_SPEC_VECTOR), 0x02));
    const { classifier, states } = classify(byteByByte(serverHello));
    expect(states.indexOf('rejected')).toBe(5);
    expect(classifier.rejection?.reason).toBe('not-client-hello');
  });

  it('rejects a non-handshake record before the hello is complete', () => {
    const records = tlsRecords(chromeMessage(), [50]);
    const firstRecord = records.subarray(0, 55);
    const alert = Buffer.from('15030100020250', 'hex');
    const { classifier, states } = classify([firstRecord, alert]);
    expect(states).toEqual(['undecided', 'rejected']);
    expect(classifier.rejection?.reason).toBe('bad-record');
  });

  it('rejects a complete but malformed hello', () => {
    const body = Buffer.concat([bodyFromVector(CHROME_SPEC_VECTOR), Buffer.from([0])]);
    const { classifier, states } = classify([tlsRecords(handshakeMessage(body))]);
    expect(states).toEqual(['rejected']);
    expect(classifier.rejection?.reason).toBe('malformed-hello');
  });

  it('ignores down bytes and stays decided after a decision', () => {
    const classifier = new TlsClassifier();
    expect(classifier.push(Buffer.from('160303003a02', 'hex'), 'down', 0).state).toBe('undecided');
    const records = tlsRecords(chromeMessage());
    expect(classifier.push(records, 'up', 1)).toEqual({ state: 'identified', detections: [] });
    expect(classifier.push(Buffer.from('garbage'), 'up', 2)).toEqual({ state: 'identified', detections: [] });
    expect(classifier.bufferedBytes).toBe(0);
    expect(classifier.facts()?.ja4).toBe('t13d1516h2_8daaf6152771_e5627efa2ab1');
  });

  it('reports the ECH flag and the outer SNI', () => {
    const chrome143 = PUBLISHED_VECTORS[2]!.fields;
    const facts = factsOf([tlsRecords(handshakeMessage(bodyFromVector(chrome143)))]);
    expect(facts).toMatchObject({ ech: true, sni: 'tls-outer.browserleaks.com', versions: ['1.3', '1.2'] });
  });
});

describe('TlsClassifier on SSLv2-compatible hellos', () => {
  // TLS 1.0 offered in the SSLv2 format: two TLS suites and one SSLv2-only kind (left out).
  const v2Hello = sslv2ClientHello(0x0301, [0x000039, 0x00002f, 0x0700c0]);

  it('identifies it as TLS with versions and suites, whole and byte by byte', () => {
    const facts = factsOf([v2Hello]);
    expect(facts).toEqual({
      alpn: [],
      versions: ['1.0'],
      ja4: expect.stringMatching(/^t10i020000_[0-9a-f]{12}_000000000000$/),
      ja3: '769,57-47,,,',
      ja3Hash: expect.stringMatching(/^[0-9a-f]{32}$/),
      ech: false,
      sslv2Compat: true,
    });
    expect(factsOf(byteByByte(v2Hello))).toEqual(facts);
  });

  it('rejects high-bit first bytes that are not a CLIENT-HELLO', () => {
    const notHello = Buffer.from(v2Hello);
    notHello.writeUInt8(0x04, 2);
    const { classifier, states } = classify(byteByByte(notHello));
    expect(states.indexOf('rejected')).toBe(2);
    expect(classifier.rejection?.reason).toBe('not-tls');
    const badVersion = Buffer.from(v2Hello);
    badVersion.writeUInt8(0x09, 3);
    expect(classify(byteByByte(badVersion)).states.indexOf('rejected')).toBe(3);
  });
});

describe('robustness (property-based)', () => {
  const validBody = bodyFromVector(PUBLISHED_VECTORS[2]!.fields);

  /** A byte string with some positions overwritten, then possibly cut short or extended. */
  const mutated = (bytes: Buffer) =>
    fc
      .tuple(
        fc.array(fc.tuple(fc.nat(bytes.length - 1), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }),
        fc.nat(bytes.length + 16),
        fc.uint8Array({ maxLength: 16 }),
      )
      .map(([edits, cut, tail]) => {
        const copy = Buffer.from(bytes);
        for (const [position, value] of edits) copy.writeUInt8(value, position);
        return Buffer.concat([copy.subarray(0, cut), Buffer.from(tail)]);
      });

  /** Splits bytes at the given cut points (sorted, deduplicated) into chunks. */
  const chunked = (bytes: Buffer, cuts: number[]): Buffer[] => {
    const points = [...new Set(cuts.map((cut) => cut % (bytes.length + 1)))].sort((a, b) => a - b);
    return [...points, bytes.length].map((end, i) => bytes.subarray(i === 0 ? 0 : points[i - 1], end));
  };

  it('parseClientHello never throws on random or mutated bodies', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => void parseClientHello(Buffer.from(bytes))));
    fc.assert(fc.property(mutated(validBody), (body) => void parseClientHello(body)), { numRuns: 2000 });
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => void parseSslv2ClientHello(Buffer.from(bytes))));
  });

  it('the classifier never throws, keeps its buffer under the cap and never changes its mind', () => {
    const prefixes = ['', '16', '160301', '1603010200', '16030140000100', '160303400001ff', '8040010301', '80'];
    const streams = fc.oneof(
      fc.tuple(fc.constantFrom(...prefixes), fc.uint8Array({ maxLength: 2000 })).map(([prefix, rest]) =>
        Buffer.concat([Buffer.from(prefix, 'hex'), Buffer.from(rest)]),
      ),
      mutated(tlsRecords(handshakeMessage(validBody), [200])),
      mutated(sslv2ClientHello(0x0303, [0x00c02f, 0x000035])),
    );
    fc.assert(
      fc.property(streams, fc.array(fc.nat(), { maxLength: 12 }), (bytes, cuts) => {
        const classifier = new TlsClassifier();
        let decided: string | undefined;
        for (const chunk of chunked(bytes, cuts)) {
          const { state } = classifier.push(chunk, 'up', 0);
          expect(classifier.bufferedBytes).toBeLessThanOrEqual(CLIENT_HELLO_CAP);
          if (decided !== undefined) expect(state).toBe(decided);
          if (state !== 'undecided') decided = state;
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('holds at most the cap whatever length a hello announces', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffff }), fc.array(fc.nat(), { maxLength: 6 }), (announced, cuts) => {
        const header = Buffer.from([0x01, announced >> 16, (announced >> 8) & 0xff, announced & 0xff]);
        const body = Buffer.alloc(Math.min(announced, CLIENT_HELLO_CAP + 100), 0x41);
        const records = tlsRecords(Buffer.concat([header, body]));
        const classifier = new TlsClassifier();
        for (const chunk of chunked(records, cuts)) {
          classifier.push(chunk, 'up', 0);
          expect(classifier.bufferedBytes).toBeLessThanOrEqual(CLIENT_HELLO_CAP);
        }
        if (announced + 4 > CLIENT_HELLO_CAP) expect(classifier.rejection?.reason).toBe('hello-too-large');
      }),
      { numRuns: 60 },
    );
  });

  it('any chunking of a valid hello yields the same facts', () => {
    const records = tlsRecords(handshakeMessage(validBody), [90, 33]);
    const expected = factsOf([records]);
    fc.assert(
      fc.property(fc.array(fc.nat(), { maxLength: 30 }), (cuts) => {
        expect(factsOf(chunked(records, cuts))).toEqual(expected);
      }),
    );
  });
});
