import { execFile, spawnSync } from 'node:child_process';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { Duplex } from 'node:stream';
import tls from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { refusalBytes, sshDisconnect, unreachableBytes, webSocketClose } from '../../../src/pipeline/protocol-refusal.js';

// ---- parsing the answers back ---------------------------------------------------------------------

interface DisconnectMessage {
  identification: string;
  packetLength: number;
  paddingLength: number;
  messageCode: number;
  reasonCode: number;
  description: string;
  language: string;
  /** Bytes after the packet (there must be none). */
  trailing: number;
}

/** Reads the identification line and one cleartext binary packet (RFC 4253 §4.2, §6, §11.1). */
function parseDisconnect(bytes: Buffer): DisconnectMessage {
  const lineEnd = bytes.indexOf('\r\n');
  const identification = bytes.subarray(0, lineEnd).toString('latin1');
  const packet = bytes.subarray(lineEnd + 2);
  const packetLength = packet.readUInt32BE(0);
  const paddingLength = packet.readUInt8(4);
  const payload = packet.subarray(5, 4 + packetLength - paddingLength);
  const descriptionLength = payload.readUInt32BE(5);
  const description = payload.subarray(9, 9 + descriptionLength).toString('utf8');
  const languageLength = payload.readUInt32BE(9 + descriptionLength);
  return {
    identification,
    packetLength,
    paddingLength,
    messageCode: payload.readUInt8(0),
    reasonCode: payload.readUInt32BE(1),
    description,
    language: payload.subarray(13 + descriptionLength, 13 + descriptionLength + languageLength).toString('utf8'),
    trailing: packet.length - 4 - packetLength,
  };
}

interface ParsedResponse {
  status: number;
  statusMessage: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** Parses bytes with Node's own (strict) HTTP client parser, over an in-memory connection. */
function parseHttpResponse(bytes: Buffer): Promise<ParsedResponse> {
  return new Promise((resolve, reject) => {
    const connection = new Duplex({
      read() {},
      write(_chunk, _encoding, done) {
        done();
      },
    });
    const request = http.request({ createConnection: () => connection, host: 'example.com', path: '/' }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () =>
        resolve({ status: response.statusCode ?? 0, statusMessage: response.statusMessage ?? '', headers: response.headers, body: Buffer.concat(chunks).toString('utf8') }),
      );
    });
    request.on('error', reject);
    request.end();
    connection.push(bytes);
    connection.push(null);
  });
}

function required(bytes: Buffer | undefined): Buffer {
  if (bytes === undefined) throw new Error('expected refusal bytes');
  return bytes;
}

// ---- SSH ------------------------------------------------------------------------------------------

describe('sshDisconnect', () => {
  it('is an identification line and one well-formed SSH_MSG_DISCONNECT for every reason length', () => {
    for (let length = 0; length < 40; length++) {
      const reason = 'r'.repeat(length);
      const message = parseDisconnect(sshDisconnect(reason));
      expect(message).toMatchObject({
        identification: 'SSH-2.0-Chokepoint',
        messageCode: 1,
        reasonCode: 1, // SSH_DISCONNECT_HOST_NOT_ALLOWED_TO_CONNECT
        description: `chokepoint: ${reason}`,
        language: '',
        trailing: 0,
      });
      expect(message.paddingLength, `reason of ${length}`).toBeGreaterThanOrEqual(4);
      expect(message.paddingLength).toBeLessThanOrEqual(255);
      expect((4 + message.packetLength) % 8, `reason of ${length}`).toBe(0);
    }
  });

  it('counts the description in UTF-8 bytes', () => {
    expect(parseDisconnect(sshDisconnect('accès refusé → règle «x»')).description).toBe('chokepoint: accès refusé → règle «x»');
  });

  it('caps a long reason', () => {
    const message = parseDisconnect(sshDisconnect('x'.repeat(5000)));
    expect(message.description.length).toBe(1000);
    expect(message.trailing).toBe(0);
  });
});

const sshAvailable = spawnSync('ssh', ['-V']).status === 0;

describe.skipIf(!sshAvailable)('sshDisconnect read by a real OpenSSH client', () => {
  let server: net.Server | undefined;
  afterEach(() => server?.close());

  it('makes `ssh` print the reason', async () => {
    server = net.createServer((socket) => {
      socket.on('error', () => undefined);
      socket.end(sshDisconnect('test reason'));
    });
    await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const options = ['-F', '/dev/null', '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'ConnectTimeout=20'];
    const stderr = await new Promise<string>((resolve) => {
      execFile('ssh', [...options, '-p', String(port), 'x@127.0.0.1', 'true'], { timeout: 25_000 }, (_error, _stdout, errors) => resolve(errors));
    });
    expect(stderr).toContain('chokepoint: test reason');
  });
});

// ---- HTTP -----------------------------------------------------------------------------------------

describe('HTTP refusals', () => {
  const body = { error: 'protocol_not_allowed', reason: 'plain HTTP is not allowed to example.com:443', flow: 'f-1' };

  it('refuses HTTP with a 403 that a strict parser reads, carrying the JSON body and the reason header', async () => {
    const response = await parseHttpResponse(required(refusalBytes('http', 'plain HTTP is not allowed', body)));
    expect(response).toMatchObject({ status: 403, statusMessage: 'Forbidden' });
    expect(response.headers).toMatchObject({ 'content-type': 'application/json', 'chokepoint-reason': 'plain HTTP is not allowed', connection: 'close' });
    expect(JSON.parse(response.body)).toEqual(body);
  });

  it('counts the body length in bytes', async () => {
    const unicode = { reason: 'refusé — 拒否 🚫' };
    const response = await parseHttpResponse(required(refusalBytes('http', 'x', unicode)));
    expect(JSON.parse(response.body)).toEqual(unicode);
  });

  it('keeps the reason header one printable line, whatever the reason holds', async () => {
    const response = await parseHttpResponse(required(refusalBytes('http', 'bad\r\nSet-Cookie: session=1\r\n\r\nrefusé', {})));
    expect(response.headers['set-cookie']).toBeUndefined();
    expect(response.headers['chokepoint-reason']).toBe('bad??Set-Cookie: session=1????refus?');
    const long = await parseHttpResponse(required(refusalBytes('http', 'y'.repeat(2000), {})));
    expect(long.headers['chokepoint-reason']).toHaveLength(512);
  });

  it('answers an unreachable upstream with a 502', async () => {
    for (const protocol of ['http', 'websocket'] as const) {
      const response = await parseHttpResponse(required(unreachableBytes(protocol, 'connect ECONNREFUSED', { error: 'upstream_unreachable' })));
      expect(response).toMatchObject({ status: 502, statusMessage: 'Bad Gateway' });
      expect(JSON.parse(response.body)).toEqual({ error: 'upstream_unreachable' });
    }
  });
});

// ---- WebSocket ------------------------------------------------------------------------------------

describe('webSocketClose', () => {
  function parseClose(frame: Buffer): { fin: boolean; opcode: number; masked: boolean; status: number; reason: string } {
    const length = frame.readUInt8(1) & 0x7f;
    expect(frame.length).toBe(2 + length);
    const reason = new TextDecoder('utf-8', { fatal: true }).decode(frame.subarray(4));
    return { fin: (frame[0] ?? 0) >= 0x80, opcode: (frame[0] ?? 0) & 0x0f, masked: ((frame[1] ?? 0) & 0x80) !== 0, status: frame.readUInt16BE(2), reason };
  }

  it('is what refusalBytes sends once the flow is a WebSocket: an unmasked close frame with 1008 and the reason', () => {
    expect(parseClose(required(refusalBytes('websocket', 'mining over WebSocket', {})))).toEqual({
      fin: true,
      opcode: 0x8,
      masked: false,
      status: 1008,
      reason: 'chokepoint: mining over WebSocket',
    });
  });

  it('fits a control frame (125 bytes) and cuts the reason on a UTF-8 character boundary', () => {
    for (const filler of ['x', 'é', '拒', '🚫']) {
      const frame = webSocketClose(filler.repeat(200));
      expect(frame.length).toBeLessThanOrEqual(127);
      const { reason } = parseClose(frame);
      expect(reason.startsWith('chokepoint: ')).toBe(true);
      // Cut at most one character (4 bytes) short of the 123 bytes a close reason may hold.
      expect(Buffer.byteLength(reason)).toBeGreaterThan(123 - 4);
    }
  });
});

// ---- TLS ------------------------------------------------------------------------------------------

describe('TLS refusal', () => {
  let server: net.Server | undefined;
  afterEach(() => server?.close());

  it('is a fatal access_denied alert record', () => {
    expect(refusalBytes('tls', 'x', {})).toEqual(Buffer.from([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x31]));
  });

  it('makes a real TLS client (Node / OpenSSL) fail with access denied', async () => {
    server = net.createServer((socket) => {
      socket.on('error', () => undefined);
      socket.once('data', () => socket.end(required(refusalBytes('tls', 'x', {}))));
    });
    await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const error = await new Promise<NodeJS.ErrnoException>((resolve) => {
      const client = tls.connect({ host: '127.0.0.1', port, servername: 'example.com', rejectUnauthorized: false });
      client.on('error', resolve);
    });
    expect(error.code).toBe('ERR_SSL_TLSV1_ALERT_ACCESS_DENIED');
  });
});

// ---- what gets no answer ------------------------------------------------------------------------------

describe('protocols without an in-band answer', () => {
  it.each(['unknown', 'opaque', 'stratum', 'socks', 'proxy-protocol', 'reverse-shell', 'http2'] as const)('%s is just closed', (protocol) => {
    expect(refusalBytes(protocol, 'x', {})).toBeUndefined();
  });

  it.each(['tls', 'unknown', 'stratum', 'http2'] as const)('an unreachable %s upstream is just closed', (protocol) => {
    expect(unreachableBytes(protocol, 'x', {})).toBeUndefined();
  });

  it('answers SSH the same way for refusals and unreachable upstreams', () => {
    expect(parseDisconnect(required(unreachableBytes('ssh', 'no route to host', {}))).description).toBe('chokepoint: no route to host');
    expect(refusalBytes('ssh', 'r', {})).toEqual(sshDisconnect('r'));
  });
});
