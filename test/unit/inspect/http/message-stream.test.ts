import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ChunkedDecoder } from '../../../../src/inspect/http/chunked-decoder.js';
import { MAX_HEAD_BYTES } from '../../../../src/inspect/http/head.js';
import { HttpMessageStream, type HttpStreamEvent } from '../../../../src/inspect/http/message-stream.js';

/** Events with consecutive body pieces joined, so that chunkings compare equal. */
function normalise(events: HttpStreamEvent[]): Array<HttpStreamEvent | { kind: 'body'; text: string }> {
  const out: Array<HttpStreamEvent | { kind: 'body'; text: string }> = [];
  for (const event of events) {
    const last = out[out.length - 1];
    if (event.kind !== 'body') out.push(event);
    else if (last !== undefined && last.kind === 'body' && 'text' in last) last.text += event.data.toString('latin1');
    else out.push({ kind: 'body', text: event.data.toString('latin1') });
  }
  return out;
}

function run(kind: 'request' | 'response', input: string, chunking: 'whole' | 'bytes' = 'whole'): ReturnType<typeof normalise> {
  const stream = new HttpMessageStream(kind);
  const bytes = Buffer.from(input, 'latin1');
  const events = chunking === 'whole' ? stream.push(bytes) : [...bytes].flatMap((byte) => stream.push(Buffer.from([byte])));
  return normalise(events);
}

const kinds = (events: ReturnType<typeof normalise>): string[] => events.map((event) => event.kind);

describe('HttpMessageStream (requests)', () => {
  const pipelined =
    '\r\nGET /a HTTP/1.1\r\nHost: example.org\r\nX-A: 1\r\nx-a: 2\r\n\r\n' +
    'POST /b HTTP/1.1\r\nHost: example.org\r\nContent-Length: 5\r\n\r\nhello' +
    'POST /c HTTP/1.1\nTransfer-Encoding: gzip, chunked\nConnection: keep-alive, Upgrade\nUpgrade: WebSocket\n\n3;name=v\r\nabc\r\n2\nde\n0\r\nTrailer: x\r\n\r\n';

  it.each(['whole', 'bytes'] as const)('frames pipelined requests with length, chunked and bare-LF bodies (%s)', (chunking) => {
    const events = run('request', pipelined, chunking);
    expect(kinds(events)).toEqual(['request', 'end', 'request', 'body', 'end', 'request', 'body', 'end']);
    expect(events[0]).toMatchObject({ head: { method: 'GET', target: '/a', version: '1.1', host: 'example.org', headers: { 'x-a': '1, 2' } } });
    expect(events[3]).toEqual({ kind: 'body', text: 'hello' });
    expect(events[5]).toMatchObject({ head: { method: 'POST', upgrade: 'websocket' } });
    expect(events[6]).toEqual({ kind: 'body', text: 'abcde' });
  });

  it('joins obsolete folded header lines', () => {
    expect(run('request', 'GET / HTTP/1.0\r\nX-Long: a\r\n  b\r\n\r\n')[0]).toMatchObject({ head: { headers: { 'x-long': 'a b' } } });
  });

  it('stops parsing after CONNECT: what follows is handed through as tunnel bytes', () => {
    const input = 'CONNECT example.org:443 HTTP/1.1\r\nHost: example.org:443\r\n\r\n\x16\x03\x01';
    expect(kinds(run('request', input))).toEqual(['request', 'end', 'tunnel']);
    const stream = new HttpMessageStream('request');
    const tunnelled = stream.push(Buffer.from(input, 'latin1')).flatMap((event) => (event.kind === 'tunnel' ? [event.data] : []));
    expect(Buffer.concat(tunnelled)).toEqual(Buffer.from([0x16, 0x03, 0x01]));
    expect(stream.push(Buffer.from('GET / HTTP/1.1\r\n\r\n'))).toEqual([{ kind: 'tunnel', data: Buffer.from('GET / HTTP/1.1\r\n\r\n') }]);
  });

  it('turns a request stream into a tunnel when told the peer switched protocols', () => {
    const stream = new HttpMessageStream('request');
    stream.push(Buffer.from('GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n'));
    stream.switchToTunnel();
    expect(stream.tunnelled).toBe(true);
    expect(stream.push(Buffer.from([0x81, 0x85]))).toEqual([{ kind: 'tunnel', data: Buffer.from([0x81, 0x85]) }]);
  });

  it.each([
    ['a TLS record', '\x16\x03\x01\x02\x00\x01\x00'],
    ['an SSH banner', 'SSH-2.0-OpenSSH_9.6\r\n'],
    ['JSON', '{"id":1}\n'],
    ['HTTP/2 preface', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'],
    ['a bad header', 'GET / HTTP/1.1\r\nno colon here\r\n\r\n'],
    ['conflicting lengths', 'POST / HTTP/1.1\r\nContent-Length: 5, 6\r\n\r\n'],
    ['a request coding without chunked', 'POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n'],
    ['a broken chunk size', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n'],
  ])('reports one error for %s, in any chunking', (_name, input) => {
    for (const chunking of ['whole', 'bytes'] as const) {
      const events = run('request', input, chunking);
      expect(events.filter((event) => event.kind === 'error'), chunking).toHaveLength(1);
      expect(events.some((event) => event.kind === 'request' && event.head.method === 'PRI')).toBe(false);
    }
  });

  it('rejects a non-HTTP stream from its first bytes', () => {
    const stream = new HttpMessageStream('request');
    expect(stream.push(Buffer.from('\x16'))).toEqual([{ kind: 'error', reason: 'not an HTTP/1.x request' }]);
    expect(stream.failed).toBe(true);
  });

  it('caps the head at 64 KiB', () => {
    const stream = new HttpMessageStream('request');
    const events: HttpStreamEvent[] = stream.push(Buffer.from('GET / HTTP/1.1\r\n'));
    for (let i = 0; i < 80 && !stream.failed; i++) {
      events.push(...stream.push(Buffer.from(`X-${i}: ${'v'.repeat(1000)}\r\n`)));
      expect(stream.bufferedBytes).toBeLessThanOrEqual(MAX_HEAD_BYTES);
    }
    expect(events).toEqual([{ kind: 'error', reason: 'head too large' }]);
  });
});

describe('HttpMessageStream (responses)', () => {
  it('knows which responses have no body and reads the rest until close', () => {
    const input =
      'HTTP/1.1 100 Continue\r\n\r\n' +
      'HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n' +
      'HTTP/1.1 200 OK\r\nX-Stratum: stratum+tcp://pool:3333\r\nContent-Length: 2\r\n\r\n{}' +
      'HTTP/1.0 200 OK\r\n\r\nstreamed to the end';
    const events = run('response', input, 'bytes');
    expect(kinds(events)).toEqual(['response', 'end', 'response', 'end', 'response', 'body', 'end', 'response', 'body']);
    expect(events[4]).toMatchObject({ head: { status: 200, headers: { 'x-stratum': 'stratum+tcp://pool:3333' } } });
    expect(events[8]).toEqual({ kind: 'body', text: 'streamed to the end' });
  });

  it('hands bytes after 101 Switching Protocols through as tunnel bytes', () => {
    expect(kinds(run('response', 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x05hello'))).toEqual(['response', 'end', 'tunnel']);
  });
});

describe('ChunkedDecoder', () => {
  it('returns the bytes after the last chunk for the next message', () => {
    const step = new ChunkedDecoder().push(Buffer.from('4\r\nwiki\r\n0\r\n\r\nNEXT'));
    expect(step.kind).toBe('done');
    if (step.kind !== 'done') return;
    expect(Buffer.concat(step.data).toString()).toBe('wiki');
    expect(step.consumed).toBe('4\r\nwiki\r\n0\r\n\r\n'.length);
  });

  it('refuses oversized chunk sizes and never throws on arbitrary bytes', () => {
    expect(new ChunkedDecoder().push(Buffer.from('1234567890abc\r\n'))).toEqual({ kind: 'error', reason: 'chunk size too large', data: [] });
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 512 }), { maxLength: 20 }), (pieces) => {
        const decoder = new ChunkedDecoder();
        for (const piece of pieces) {
          const step = decoder.push(Buffer.from(piece));
          if (step.kind !== 'progress') break;
          expect(step.consumed).toBe(piece.length);
        }
      }),
    );
  });
});

describe('HttpMessageStream (properties)', () => {
  it('hands over the body decoded before broken chunk framing, however the bytes were split', () => {
    const input = 'GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nGET / HTTP/1.1\r\n';
    expect(run('request', input, 'whole')).toEqual(run('request', input, 'bytes'));
    expect(run('request', input, 'whole')).toContainEqual({ kind: 'body', text: 'abc' });
  });

  it('never throws, stays capped, and frames identically byte by byte', () => {
    const piece = fc.constantFrom('GET / HTTP/1.1\r\n', 'POST /x HTTP/1.1\r\n', 'Content-Length: 3\r\n', 'Transfer-Encoding: chunked\r\n', '\r\n', '3\r\nabc\r\n', '0\r\n', 'Host: h\r\n', 'abc', ':', ' ');
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 30 }), (pieces) => {
        const input = pieces.join('');
        const whole = run('request', input, 'whole');
        expect(run('request', input, 'bytes')).toEqual(whole);
      }),
    );
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 4096 }), { maxLength: 20 }), (chunks) => {
        const stream = new HttpMessageStream('response');
        stream.push(Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'));
        for (const chunk of chunks) {
          stream.push(Buffer.from(chunk));
          expect(stream.bufferedBytes).toBeLessThanOrEqual(MAX_HEAD_BYTES);
        }
      }),
    );
  });
});
