import zlib from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Detection, Direction } from '../../../src/inspect/types.js';
import { MessageInflater } from '../../../src/inspect/websocket/deflate.js';
import { FrameParser, Opcode, type WebSocketFrame } from '../../../src/inspect/websocket/frame-parser.js';
import { parseExtensions, perMessageDeflateParams } from '../../../src/inspect/websocket/handshake.js';
import { MessageAssembler, type AssemblerOutput } from '../../../src/inspect/websocket/message-assembler.js';
import {
  DEFAULT_WEBSOCKET_LIMITS,
  WebSocketMessageStream,
  type MessageStreamEvent,
} from '../../../src/inspect/websocket/message-stream.js';
import {
  parseWebSocketHandshake,
  WebSocketInspector,
  type WebSocketHandshakeInfo,
} from '../../../src/inspect/websocket/websocket-inspector.js';
import { readWstunnelToken } from '../../../src/inspect/websocket/wstunnel-token.js';
import { byteByByte, clientFrame, deflateMessages, encodeFrame, RFC_MASK, serverFrame } from './websocket-frames.js';

const hex = (text: string): Buffer => Buffer.from(text.replace(/\s+/g, ''), 'hex');

// RFC 6455 §5.7 examples.
const UNMASKED_HELLO = hex('81 05 48 65 6c 6c 6f');
const MASKED_HELLO = hex('81 85 37 fa 21 3d 7f 9f 4d 51 58');
const FRAGMENTED_HELLO = [hex('01 03 48 65 6c'), hex('80 02 6c 6f')];
const UNMASKED_PING = hex('89 05 48 65 6c 6c 6f');
const MASKED_PONG = hex('8a 85 37 fa 21 3d 7f 9f 4d 51 58');

const patterned = (length: number): Buffer => Buffer.from(Array.from({ length }, (_, i) => (i * 7 + 3) & 0xff));

/** The three chunkings every decoder must treat alike. */
function chunkings(bytes: Buffer): Record<string, Buffer[]> {
  const middle = Math.floor(bytes.length / 2);
  return { whole: [bytes], byteByByte: byteByByte(bytes), split: [bytes.subarray(0, middle), bytes.subarray(middle)] };
}

function newParser(direction: Direction, options: { allowCompression?: boolean; maxRetainedPayload?: number } = {}) {
  return new FrameParser({
    direction,
    allowCompression: options.allowCompression ?? false,
    maxFrameLength: 1 << 30,
    maxRetainedPayload: options.maxRetainedPayload ?? 1 << 20,
  });
}

function parseAll(bytes: Buffer[], direction: Direction): WebSocketFrame[] {
  const parser = newParser(direction);
  const frames = bytes.flatMap((chunk) => [...parser.push(chunk).frames]);
  expect(parser.error).toBeUndefined();
  return frames;
}

function decodeAll(chunks: Buffer[], direction: Direction, extensions?: string): MessageStreamEvent[] {
  const stream = new WebSocketMessageStream(
    direction,
    perMessageDeflateParams(extensions)?.[direction],
    DEFAULT_WEBSOCKET_LIMITS,
  );
  return chunks.flatMap((chunk) => stream.push(chunk));
}

function texts(events: MessageStreamEvent[]): string[] {
  return events.map((event) => (event.kind === 'message' ? event.payload.toString() : `<${event.kind}>`));
}

function inspect(
  handshake: WebSocketHandshakeInfo,
  pushes: [Direction, Buffer][],
): { detections: Detection[]; states: string[]; messages: string[] } {
  const messages: string[] = [];
  const inspector = new WebSocketInspector(handshake, {
    onMessage: (payload, isText, direction) => {
      messages.push(`${direction}:${isText ? 'text' : 'binary'}:${payload.toString('latin1')}`);
    },
  });
  const detections: Detection[] = [];
  const states: string[] = [];
  pushes.forEach(([direction, chunk], index) => {
    const report = inspector.push(chunk, direction, index * 10);
    detections.push(...report.detections);
    states.push(report.state);
  });
  return { detections, states, messages };
}

function handshakeDetections(handshake: WebSocketHandshakeInfo): Detection[] {
  return inspect(handshake, [['up', Buffer.alloc(0)]]).detections;
}

function found(
  type: Detection['type'],
  confidence: Detection['confidence'],
  evidence: string,
  direction: Direction = 'up',
  atMs = 0,
): Detection {
  return { type, confidence, evidence, direction, atMs };
}

describe('FrameParser: RFC 6455 §5.7 examples', () => {
  it('decodes the unmasked and masked single-frame "Hello"', () => {
    for (const [name, chunks] of Object.entries(chunkings(UNMASKED_HELLO))) {
      expect(parseAll(chunks, 'down'), name).toEqual([
        { fin: true, rsv1: false, opcode: Opcode.text, length: 5, payload: Buffer.from('Hello'), truncated: false },
      ]);
    }
    for (const [name, chunks] of Object.entries(chunkings(MASKED_HELLO))) {
      expect(parseAll(chunks, 'up')[0]?.payload.toString(), name).toBe('Hello');
    }
  });

  it('decodes the fragmented "Hel" + "lo", ping and masked pong', () => {
    const frames = parseAll([Buffer.concat([...FRAGMENTED_HELLO, UNMASKED_PING])], 'down');
    expect(frames.map((frame) => [frame.fin, frame.opcode, frame.payload.toString()])).toEqual([
      [false, Opcode.text, 'Hel'],
      [true, Opcode.continuation, 'lo'],
      [true, Opcode.ping, 'Hello'],
    ]);
    expect(parseAll(byteByByte(MASKED_PONG), 'up')).toMatchObject([
      { opcode: Opcode.pong, payload: Buffer.from('Hello') },
    ]);
  });

  it('decodes the 256-byte (16-bit length) and 64 KiB (64-bit length) binary frames', () => {
    const small = patterned(256);
    const large = patterned(65536);
    const smallFrame = Buffer.concat([hex('82 7e 01 00'), small]);
    const largeFrame = Buffer.concat([hex('82 7f 00 00 00 00 00 01 00 00'), large]);
    expect(encodeFrame({ opcode: Opcode.binary, payload: small })).toEqual(smallFrame);
    expect(encodeFrame({ opcode: Opcode.binary, payload: large })).toEqual(largeFrame);
    for (const [name, chunks] of Object.entries(chunkings(Buffer.concat([smallFrame, largeFrame])))) {
      const frames = parseAll(chunks, 'down');
      expect(frames.map((frame) => frame.length), name).toEqual([256, 65536]);
      expect(frames[0]?.payload.equals(small), name).toBe(true);
      expect(frames[1]?.payload.equals(large), name).toBe(true);
    }
    const masked = clientFrame({ opcode: Opcode.binary, payload: large });
    expect(parseAll(chunkings(masked).split ?? [], 'up')[0]?.payload.equals(large)).toBe(true);
  });

  it('completes zero-length frames, even at the very end of a chunk', () => {
    expect(parseAll([hex('81 00 89 00')], 'down').map((frame) => frame.length)).toEqual([0, 0]);
    expect(parseAll([hex('81 80'), RFC_MASK], 'up').map((frame) => frame.payload.length)).toEqual([0]);
  });

  it('keeps only the retained prefix of a long frame and skips the rest', () => {
    const parser = newParser('up', { maxRetainedPayload: 10 });
    const payload = patterned(1000);
    const bytes = Buffer.concat([clientFrame({ opcode: Opcode.binary, payload }), MASKED_HELLO]);
    const frames = byteByByte(bytes).flatMap((chunk) => {
      expect(parser.bufferedBytes).toBeLessThanOrEqual(14 + 10);
      return [...parser.push(chunk).frames];
    });
    expect(frames[0]).toMatchObject({ length: 1000, truncated: true, payload: payload.subarray(0, 10) });
    expect(frames[1]?.payload.toString()).toBe('Hello');
  });
});

describe('FrameParser: protocol errors are values', () => {
  const cases: [string, Direction, Buffer, string][] = [
    ['unmasked client frame', 'up', UNMASKED_HELLO, 'unmasked-client-frame'],
    ['masked server frame', 'down', MASKED_HELLO, 'masked-server-frame'],
    ['reserved data opcode', 'down', hex('83 00'), 'reserved-opcode'],
    ['reserved control opcode', 'down', hex('8b 00'), 'reserved-opcode'],
    ['RSV2', 'down', hex('a1 00'), 'reserved-bits'],
    ['RSV1 without permessage-deflate', 'down', hex('c1 00'), 'reserved-bits'],
    ['126-byte ping', 'down', serverFrame({ opcode: Opcode.ping, payload: Buffer.alloc(126) }), 'control-frame-too-long'],
    ['fragmented ping', 'down', hex('09 00'), 'fragmented-control-frame'],
    ['64-bit length with the MSB set', 'down', hex('82 7f 80 00 00 00 00 00 00 00'), 'length-msb-set'],
    ['frame over the cap', 'down', hex('82 7f 00 00 00 01 00 00 00 00'), 'frame-too-long'],
  ];
  for (const [name, direction, bytes, code] of cases) {
    it(`reports ${name}`, () => {
      const parser = newParser(direction);
      const errors = byteByByte(bytes).map((chunk) => parser.push(chunk).error?.code).filter(Boolean);
      expect(errors).toEqual([code]);
      expect(parser.push(UNMASKED_HELLO)).toEqual({ frames: [] });
    });
  }

  it('allows RSV1 only on the first frame of a compressed data message', () => {
    const firstError = (bytes: Buffer) => newParser('down', { allowCompression: true }).push(bytes).error?.code;
    expect(firstError(hex('41 00 80 00'))).toBeUndefined();
    expect(firstError(hex('41 00 c0 00'))).toBe('reserved-bits');
    expect(firstError(hex('c9 00'))).toBe('reserved-bits');
  });

  it('returns the frames decoded before the error in the same chunk', () => {
    const result = newParser('down').push(Buffer.concat([UNMASKED_HELLO, hex('83 00')]));
    expect(result.frames.map((frame) => frame.payload.toString())).toEqual(['Hello']);
    expect(result.error?.code).toBe('reserved-opcode');
  });
});

describe('MessageAssembler', () => {
  const frames = (bytes: Buffer): WebSocketFrame[] => parseAll([bytes], 'down');
  const assemble = (assembler: MessageAssembler, bytes: Buffer): AssemblerOutput[] =>
    frames(bytes).flatMap((frame) => assembler.accept(frame) ?? []);

  it('joins "Hel" + "lo" with a ping between the fragments', () => {
    const [hel = Buffer.alloc(0), lo = Buffer.alloc(0)] = FRAGMENTED_HELLO;
    const output = assemble(new MessageAssembler(1024), Buffer.concat([hel, UNMASKED_PING, lo]));
    expect(output).toEqual([
      { kind: 'control', opcode: 'ping', payload: Buffer.from('Hello') },
      { kind: 'message', isText: true, compressed: false, payload: Buffer.from('Hello'), length: 5, truncated: false },
    ]);
  });

  it('keeps only the first maxMessageBytes of a long fragmented message', () => {
    const assembler = new MessageAssembler(100);
    const parts = [patterned(60), patterned(60), patterned(60)];
    const bytes = Buffer.concat([
      serverFrame({ opcode: Opcode.binary, payload: parts[0] ?? '', fin: false }),
      serverFrame({ opcode: Opcode.continuation, payload: parts[1] ?? '', fin: false }),
      serverFrame({ opcode: Opcode.continuation, payload: parts[2] ?? '' }),
    ]);
    const [message] = assemble(assembler, bytes);
    expect(message).toMatchObject({ kind: 'message', isText: false, length: 180, truncated: true });
    expect(message?.kind === 'message' && message.payload.equals(Buffer.concat(parts).subarray(0, 100))).toBe(true);
  });

  it('reports continuation errors', () => {
    const errorCode = (bytes: Buffer) => {
      const [output] = assemble(new MessageAssembler(1024), bytes);
      return output?.kind === 'error' ? output.error.code : undefined;
    };
    expect(errorCode(hex('80 00'))).toBe('unexpected-continuation');
    expect(errorCode(hex('01 00 81 00'))).toBe('expected-continuation');
  });
});

describe('permessage-deflate', () => {
  const DEFLATE = 'permessage-deflate';

  it('inflates the RFC 7692 §7.2.3 examples', () => {
    const cases: [string, Buffer[]][] = [
      ['single frame', [hex('c1 07 f2 48 cd c9 c9 07 00')]],
      ['two fragments', [hex('41 03 f2 48 cd'), hex('80 04 c9 c9 07 00')]],
      ['BFINAL block', [hex('c1 08 f3 48 cd c9 c9 07 00 00')]],
      ['stored block', [hex('c1 0b 00 05 00 fa ff 48 65 6c 6c 6f 00')]],
    ];
    for (const [name, frames] of cases) {
      for (const [split, chunks] of Object.entries(chunkings(Buffer.concat(frames)))) {
        expect(texts(decodeAll(chunks, 'down', DEFLATE)), `${name} ${split}`).toEqual(['Hello']);
      }
    }
  });

  it('carries the window into the next message (RFC 7692 §7.2.3.2)', () => {
    const bytes = hex('c1 07 f2 48 cd c9 c9 07 00  c1 05 f2 00 11 00 00');
    expect(texts(decodeAll([bytes], 'down', DEFLATE))).toEqual(['Hello', 'Hello']);
    // Without the window the second message cannot be read exactly.
    const events = decodeAll([bytes], 'down', `${DEFLATE}; server_no_context_takeover`);
    expect(texts(events)[1]).not.toBe('Hello');
  });

  it('decodes a zlib stream shared by several messages, fragmented and masked like a real client', async () => {
    const messages = [
      '{"id":1,"method":"login","params":{"login":"wallet","pass":"x","agent":"XMRig/6.21.0"}}',
      '{"id":2,"method":"submit","params":{"id":"1","job_id":"7","nonce":"0011aabb","result":"ff"}}',
      'x'.repeat(40_000) + ' far back reference target',
      '{"id":3,"method":"submit","params":{"id":"1","job_id":"8","nonce":"0011aabc","result":"ff"}}',
      ' far back reference target',
    ].map((text) => Buffer.from(text));
    const compressed = await deflateMessages(messages);
    // The repeated messages really are encoded as references into earlier ones.
    expect(compressed[4]?.length).toBeLessThan(10);
    const wire = Buffer.concat(
      compressed.flatMap((payload, index) =>
        index === 2
          ? [
              clientFrame({ opcode: Opcode.text, payload: payload.subarray(0, 10), rsv1: true, fin: false }),
              clientFrame({ opcode: Opcode.ping, payload: 'keepalive' }),
              clientFrame({ opcode: Opcode.continuation, payload: payload.subarray(10) }),
            ]
          : [clientFrame({ opcode: Opcode.text, payload, rsv1: true })],
      ),
    );
    for (const [split, chunks] of Object.entries(chunkings(wire))) {
      const decoded = texts(decodeAll(chunks, 'up', `${DEFLATE}; client_max_window_bits=15`));
      expect(decoded, split).toEqual(messages.map(String));
    }
  });

  it('honours client_no_context_takeover and max_window_bits', async () => {
    const messages = ['alpha beta gamma', 'alpha beta gamma', 'delta'].map((text) => Buffer.from(text));
    // A sender without context takeover starts a fresh compressor for every message.
    const independent = (await Promise.all(messages.map((message) => deflateMessages([message])))).flat();
    const wire = Buffer.concat(independent.map((payload) => clientFrame({ opcode: Opcode.text, payload, rsv1: true })));
    expect(texts(decodeAll([wire], 'up', `${DEFLATE}; client_no_context_takeover`))).toEqual(messages.map(String));

    const windowed = [patterned(3000), Buffer.concat([patterned(600), patterned(3000).subarray(2000)])];
    const small = await deflateMessages(windowed, { windowBits: 10 });
    const smallWire = Buffer.concat(
      small.map((payload) => serverFrame({ opcode: Opcode.binary, payload, rsv1: true })),
    );
    const events = decodeAll([smallWire], 'down', `${DEFLATE}; server_max_window_bits=10`);
    expect(events).toMatchObject(windowed.map((payload) => ({ kind: 'message', payload, approximate: false })));
  });

  it('keeps the window bounded to 2^max_window_bits', async () => {
    const inflater = new MessageInflater({ noContextTakeover: false, maxWindowBits: 9 }, 1 << 20);
    const [compressed] = await deflateMessages([patterned(5000)], { windowBits: 9 });
    expect(inflater.inflate(compressed ?? Buffer.alloc(0), true)).toMatchObject({ ok: true, approximate: false });
    expect(inflater.bufferedBytes).toBe(512);
  });

  it('bounds a zip bomb and keeps decoding later messages approximately', async () => {
    const bomb = zlib.deflateRawSync(Buffer.alloc(8 * 1024 * 1024));
    expect(bomb.length).toBeLessThan(DEFAULT_WEBSOCKET_LIMITS.maxMessageBytes);
    const [after] = await deflateMessages([Buffer.from('{"method":"mining.subscribe"}')]);
    const wire = Buffer.concat([
      serverFrame({ opcode: Opcode.binary, payload: bomb, rsv1: true }),
      serverFrame({ opcode: Opcode.text, payload: after ?? Buffer.alloc(0), rsv1: true }),
    ]);
    const stream = new WebSocketMessageStream('down', perMessageDeflateParams(DEFLATE)?.down, DEFAULT_WEBSOCKET_LIMITS);
    const events = stream.push(wire);
    expect(events[0]).toEqual({ kind: 'undecodable', isText: false, reason: 'inflate-too-large' });
    expect(events[1]).toMatchObject({
      kind: 'message',
      approximate: true,
      payload: Buffer.from('{"method":"mining.subscribe"}'),
    });
    expect(stream.bufferedBytes).toBeLessThanOrEqual(32 * 1024);
  });

  it('reports corrupt DEFLATE data without failing the stream', () => {
    const events = decodeAll([hex('c1 03 ff ff ff 81 02 6f 6b')], 'down', DEFLATE);
    expect(events).toMatchObject([
      { kind: 'undecodable', reason: 'inflate-corrupt' },
      { kind: 'message', payload: Buffer.from('ok') },
    ]);
  });
});

describe('handshake parsing', () => {
  it('extracts subprotocols and extension parameters', () => {
    const parsed = parseWebSocketHandshake(
      {
        'sec-websocket-protocol': 'v1, authorization.bearer.abc',
        'sec-websocket-extensions': 'permessage-deflate; client_max_window_bits',
      },
      {
        'sec-websocket-protocol': 'v1',
        'sec-websocket-extensions': 'permessage-deflate; server_no_context_takeover; client_max_window_bits="10"',
      },
    );
    expect(parsed).toEqual({
      subprotocols: ['v1', 'authorization.bearer.abc'],
      selectedSubprotocol: 'v1',
      extensions: 'permessage-deflate; server_no_context_takeover; client_max_window_bits="10"',
      negotiatedExtensions: [
        { name: 'permessage-deflate', params: { server_no_context_takeover: '', client_max_window_bits: '10' } },
      ],
    });
    expect(perMessageDeflateParams(parsed.extensions)).toEqual({
      up: { noContextTakeover: false, maxWindowBits: 10 },
      down: { noContextTakeover: true, maxWindowBits: 15 },
    });
  });

  it('treats odd parameters safely', () => {
    expect(perMessageDeflateParams('x-webkit-deflate-frame')).toBeUndefined();
    expect(perMessageDeflateParams('permessage-deflate; server_max_window_bits=99')?.down.maxWindowBits).toBe(15);
    const [extension] = parseExtensions('foo; __proto__=1');
    expect(Object.getPrototypeOf(extension?.params)).toBe(Object.prototype);
    expect(extension?.params['__proto__']).toBe('1');
  });
});

describe('WebSocketInspector detections', () => {
  it('raises SSH inside WebSocket once per direction and passes messages to the hook', () => {
    const { detections, states, messages } = inspect({}, [
      ['up', clientFrame({ opcode: Opcode.binary, payload: 'SSH-2.0-OpenSSH_9.6\r\n' })],
      ['down', serverFrame({ opcode: Opcode.binary, payload: 'SSH-2.0-OpenSSH_8.2p1 Ubuntu-4ubuntu0.5\r\n' })],
      ['up', clientFrame({ opcode: Opcode.binary, payload: 'SSH-2.0-again' })],
    ]);
    expect(states).toEqual(['identified', 'identified', 'identified']);
    expect(messages[0]).toBe('up:binary:SSH-2.0-OpenSSH_9.6\r\n');
    expect(detections).toEqual([
      found('tunnel_tool', 'high', 'SSH identification inside WebSocket (up): SSH-2.0-OpenSSH_9.6'),
      found(
        'tunnel_tool',
        'high',
        'SSH identification inside WebSocket (down): SSH-2.0-OpenSSH_8.2p1 Ubuntu-4ubuntu0.5',
        'down',
        10,
      ),
    ]);
  });

  it('finds an SSH banner in a compressed, fragmented, byte-by-byte message', async () => {
    const [compressed] = await deflateMessages([Buffer.from('SSH-2.0-Go\r\n')]);
    const payload = compressed ?? Buffer.alloc(0);
    const wire = Buffer.concat([
      clientFrame({ opcode: Opcode.binary, payload: payload.subarray(0, 3), rsv1: true, fin: false }),
      clientFrame({ opcode: Opcode.continuation, payload: payload.subarray(3) }),
    ]);
    const { detections } = inspect(
      { extensions: 'permessage-deflate' },
      byteByByte(wire).map((chunk): [Direction, Buffer] => ['up', chunk]),
    );
    expect(detections).toMatchObject([{ type: 'tunnel_tool', evidence: expect.stringContaining('SSH-2.0-Go') }]);
  });

  it('raises a TLS ClientHello carried in a message', () => {
    const hello = hex('16 03 01 00 c8 01 00 00 c4 03 03');
    const { detections } = inspect({}, [['up', clientFrame({ opcode: Opcode.binary, payload: hello })]]);
    expect(detections).toEqual([
      found('websocket_payload', 'high', 'TLS ClientHello inside WebSocket (up)'),
    ]);
  });

  it('names chisel from its subprotocol and from its SSH banner, once', () => {
    expect(handshakeDetections({ subprotocols: ['chisel-v3'] })).toEqual([
      found('tunnel_tool', 'high', 'chisel client: Sec-WebSocket-Protocol chisel-v3'),
    ]);
    const both = inspect({ subprotocols: ['chisel-v3'] }, [
      ['up', clientFrame({ opcode: Opcode.binary, payload: 'SSH-chisel-v3-client\r\n' })],
    ]);
    expect(both.detections.map((detection) => detection.type)).toEqual(['tunnel_tool', 'tunnel_tool']);
    const banner = serverFrame({ opcode: Opcode.binary, payload: 'SSH-chisel-v3-server\r\n' });
    expect(inspect({}, [['down', banner]]).detections).toContainEqual(
      found('tunnel_tool', 'high', 'chisel SSH banner inside WebSocket: SSH-chisel-v3-server', 'down'),
    );
  });

  const base64url = (text: string): string => Buffer.from(text).toString('base64url');
  const jwt = (claims: object): string =>
    `${base64url('{"typ":"JWT","alg":"HS256"}')}.${base64url(JSON.stringify(claims))}.c2lnbmF0dXJl`;
  const wstunnel = (token: string): WebSocketHandshakeInfo => ({
    subprotocols: ['v1', `authorization.bearer.${token}`],
  });

  it('reads the wstunnel destination from the JWT subprotocol', () => {
    const id = '0190f2a4-0000-7000-8000-000000000000';
    const token = jwt({ id, p: { Tcp: { proxy_protocol: false } }, r: '10.0.0.5', rp: 22 });
    const detections = handshakeDetections(wstunnel(token));
    expect(detections).toEqual([found('tunnel_tool', 'high', 'wstunnel tunnel p=Tcp r=10.0.0.5 rp=22')]);
    expect(detections[0]?.evidence).not.toContain(token);
  });

  it('marks wstunnel reverse modes as reverse tunnels', () => {
    const token = jwt({ id: 'x', p: 'ReverseTcp', r: '0.0.0.0', rp: 8080 });
    expect(handshakeDetections(wstunnel(token))).toEqual([
      found('reverse_tunnel', 'high', 'wstunnel reverse tunnel p=ReverseTcp r=0.0.0.0 rp=8080'),
    ]);
  });

  it('is cautious with unreadable or foreign bearer subprotocols', () => {
    expect(readWstunnelToken('authorization.bearer.not-a-jwt')).toBeUndefined();
    expect(readWstunnelToken(`authorization.bearer.a.${base64url('[1]')}.c`)).toBeUndefined();
    expect(readWstunnelToken(`authorization.bearer.a.${base64url('{"r":1,"rp":2}')}.c`)).toBeUndefined();
    expect(handshakeDetections(wstunnel('garbage'))).toMatchObject([{ type: 'tunnel_tool', confidence: 'medium' }]);
    expect(handshakeDetections({ subprotocols: ['authorization.bearer.garbage'] })).toEqual([]);
  });

  it('rejects a flow whose first bytes are not WebSocket framing', () => {
    const { detections, states } = inspect({}, [
      ['up', Buffer.from('SSH-2.0-OpenSSH_9.6\r\n')],
      ['down', UNMASKED_HELLO],
    ]);
    expect(states).toEqual(['rejected', 'rejected']);
    expect(detections).toEqual([
      {
        type: 'protocol_mismatch',
        confidence: 'medium',
        evidence: 'WebSocket framing error (up): opcode 0x3 is reserved',
        direction: 'up',
        atMs: 0,
      },
    ]);
  });

  it('stays identified but stops decoding after a later framing error', () => {
    const { detections, states, messages } = inspect({}, [
      ['down', UNMASKED_HELLO],
      ['up', UNMASKED_HELLO],
      ['down', UNMASKED_HELLO],
    ]);
    expect(states).toEqual(['identified', 'identified', 'identified']);
    expect(messages).toEqual(['down:text:Hello']);
    expect(detections).toEqual([
      found('protocol_mismatch', 'medium', 'WebSocket framing error (up): client frame is not masked', 'up', 10),
    ]);
  });

  it('merges detections returned by the message hook', () => {
    const inspector = new WebSocketInspector(
      {},
      {
        onMessage: (payload, _isText, direction, atMs, info) =>
          payload.toString().includes('mining.subscribe') && !info.truncated
            ? [{ type: 'stratum', confidence: 'high', evidence: 'mining.subscribe', direction, atMs }]
            : [],
      },
    );
    const frame = serverFrame({ opcode: Opcode.text, payload: '{"method":"mining.subscribe"}' });
    expect(inspector.push(frame, 'down', 42).detections).toEqual([
      found('stratum', 'high', 'mining.subscribe', 'down', 42),
    ]);
  });
});

describe('WebSocketInspector under hostile input (property)', () => {
  const limits = { maxMessageBytes: 256, maxInflatedBytes: 4096, maxFrameLength: 1 << 20 };
  /** Partial frame + partial message + deflate window, per direction. */
  const bound = 2 * (14 + 256 + 256 + 32 * 1024);

  it('never throws and never buffers past its caps', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom<Direction>('up', 'down'), fc.uint8Array({ maxLength: 600 })), {
          maxLength: 30,
        }),
        fc.boolean(),
        (pushes, deflate) => {
          const handshake = deflate ? { extensions: 'permessage-deflate' } : {};
          const inspector = new WebSocketInspector(handshake, { limits, onMessage: () => [] });
          pushes.forEach(([direction, bytes], index) => {
            const report = inspector.push(Buffer.from(bytes), direction, index);
            expect(['undecided', 'identified', 'rejected']).toContain(report.state);
            expect(inspector.bufferedBytes).toBeLessThanOrEqual(bound);
          });
        },
      ),
      { numRuns: 300 },
    );
  });

  it('never throws on well-framed hostile frames either', () => {
    const frameArb = fc.record({
      opcode: fc.constantFrom(0, 1, 2, 8, 9, 10),
      payload: fc.uint8Array({ maxLength: 700 }).map((bytes) => Buffer.from(bytes)),
      fin: fc.boolean(),
      rsv1: fc.boolean(),
    });
    fc.assert(
      fc.property(fc.array(frameArb, { maxLength: 20 }), (frames) => {
        const handshake = { extensions: 'permessage-deflate; client_no_context_takeover' };
        const inspector = new WebSocketInspector(handshake, { limits });
        for (const frame of frames) {
          inspector.push(clientFrame(frame), 'up', 0);
          expect(inspector.bufferedBytes).toBeLessThanOrEqual(bound);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('decodes the same messages whatever the chunking', () => {
    const messages = ['Hello', 'SSH-2.0-OpenSSH_9.6', 'x'.repeat(300)];
    const wire = Buffer.concat([
      clientFrame({ opcode: Opcode.text, payload: messages[0] ?? '', fin: false }),
      MASKED_PONG,
      clientFrame({ opcode: Opcode.continuation, payload: '' }),
      ...messages.slice(1).map((payload) => clientFrame({ opcode: Opcode.text, payload })),
    ]);
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 1, max: wire.length - 1 }), { maxLength: 12 }), (cuts) => {
        const points = [0, ...cuts.sort((a, b) => a - b), wire.length];
        const chunks = points.slice(1).map((end, index) => wire.subarray(points[index], end));
        expect(texts(decodeAll(chunks, 'up'))).toEqual(messages);
      }),
    );
  });
});
