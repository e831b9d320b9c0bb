/**
 * bore and frp control channels from the bytes those tools put on the wire: bore's NUL-terminated
 * serde_json messages (ekzhang/bore `src/shared.rs`), frp's golib framing (type byte, int64 big-endian
 * length, JSON) of its Login message (fatedier/frp `pkg/msg/msg.go`), bare and behind yamux headers
 * (hashicorp/yamux `spec.md`). Fed whole, byte by byte, and through the flow classifier.
 */
import { describe, expect, it } from 'vitest';
import { FlowClassifier } from '../../../src/inspect/flow-classifier.js';
import { TunnelToolClassifier } from '../../../src/inspect/signatures/tunnel-tools.js';
import type { Detection, Direction } from '../../../src/inspect/types.js';

const bore = (json: string): Buffer => Buffer.concat([Buffer.from(json), Buffer.from([0])]);

function golib(type: string, json: object): Buffer {
  const body = Buffer.from(JSON.stringify(json));
  const header = Buffer.alloc(9);
  header.write(type, 0, 'latin1');
  header.writeBigUInt64BE(BigInt(body.length), 1);
  return Buffer.concat([header, body]);
}

function yamuxHeader(type: number, flags: number, stream: number, length: number): Buffer {
  const header = Buffer.alloc(12);
  header.writeUInt8(0, 0);
  header.writeUInt8(type, 1);
  header.writeUInt16BE(flags, 2);
  header.writeUInt32BE(stream, 4);
  header.writeUInt32BE(length, 8);
  return header;
}

const FRP_LOGIN = golib('o', {
  version: '0.61.0', hostname: '', os: 'linux', arch: 'amd64', user: '', privilege_key: '5f4dcc3b5aa765d61d8327deb882cf99',
  timestamp: 1732600000, run_id: '', metas: null, pool_count: 1,
});

function feed(chunks: Array<[Direction, Buffer]>, byteByByte = false): Detection[] {
  const classifier = new TunnelToolClassifier();
  const detections: Detection[] = [];
  chunks.forEach(([direction, bytes], index) => {
    const pieces = byteByByte ? [...bytes].map((byte) => Buffer.from([byte])) : [bytes];
    for (const piece of pieces) detections.push(...classifier.push(piece, direction, index).detections);
  });
  return detections;
}

describe('TunnelToolClassifier', () => {
  it.each([false, true])('names a bore client from its Hello (byte by byte: %s)', (byteByByte) => {
    expect(feed([['up', bore('{"Hello":0}')]], byteByByte)).toEqual([
      { type: 'tunnel_tool', confidence: 'high', evidence: 'bore client control message {"Hello":0}', direction: 'up', atMs: 0 },
    ]);
  });

  it('names bore authentication and data connections, and the server side', () => {
    expect(feed([['up', bore('{"Authenticate":"9f86d081884c7d659a2feaa0c55ad015"}')]])[0]?.evidence).toBe('bore client control message {"Authenticate":…}');
    expect(feed([['up', bore('{"Accept":"6c5b8e1e-8a4f-4a0e-9d0a-3f2b1c0d9e8f"}')]])[0]?.evidence).toMatch(/Accept/);
    expect(feed([['down', bore('{"Challenge":"6c5b8e1e-8a4f-4a0e-9d0a-3f2b1c0d9e8f"}')]])[0]?.evidence).toBe('bore server control message {"Challenge":…}');
  });

  it('leaves other NUL-terminated JSON alone', () => {
    expect(feed([['up', bore('{"Hello":"world"}')]])).toEqual([]);
    expect(feed([['up', bore('{"Hello":0,"extra":1}')]])).toEqual([]);
    expect(feed([['up', bore('{"method":"login"}')]])).toEqual([]);
  });

  it.each([false, true])('names an frp Login without TLS, bare and behind yamux headers (byte by byte: %s)', (byteByByte) => {
    const bare = feed([['up', FRP_LOGIN]], byteByByte);
    expect(bare).toMatchObject([{ type: 'tunnel_tool', confidence: 'high', evidence: expect.stringMatching(/^frp client Login message \(version, hostname, os, arch, privilege_key, run_id, pool_count\)/) }]);
    const muxed = Buffer.concat([yamuxHeader(1, 1, 1, 0), yamuxHeader(0, 0, 1, FRP_LOGIN.length), FRP_LOGIN]);
    expect(feed([['up', muxed]], byteByByte)).toHaveLength(1);
  });

  it('recognises the frp v2 wire magic at medium confidence, and ignores other golib-looking bytes', () => {
    expect(feed([['up', Buffer.from('FRP\x00\x02\r\n\x00\x00', 'latin1')]])).toMatchObject([{ confidence: 'medium' }]);
    expect(feed([['up', golib('o', { hello: 'world' })]])).toEqual([]);
  });

  it('reaches the flow classifier as a watcher of unnamed flows', () => {
    const classifier = new FlowClassifier();
    const detections = classifier.push(bore('{"Hello":0}'), 'up', 3);
    classifier.giveUp();
    expect([...detections, ...classifier.classification.detections].map((d) => d.type)).toContain('tunnel_tool');
    expect(classifier.classification.protocol).toBe('unknown');
  });
});
