import { describe, expect, it } from 'vitest';
import { HttpClassifier } from '../../../../src/inspect/http/http-classifier.js';
import type { ClassifierReport, Detection, Direction } from '../../../../src/inspect/types.js';
import type { WebSocketMessageHook } from '../../../../src/inspect/websocket/websocket-inspector.js';
import { clientFrame, deflateMessages, serverFrame } from '../websocket-frames.js';

const GET = 'GET /v1/items?page=2 HTTP/1.1\r\nHost: api.example.com\r\nUser-Agent: python-requests/2.31.0\r\nAccept: */*\r\n\r\n';
const SECOND_GET = 'GET /v1/other HTTP/1.1\r\nHost: other.example.com\r\n\r\n';
const OK = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}';

function upgrade(extraHeaders = ''): string {
  return (
    'GET /ws HTTP/1.1\r\nHost: app.example.com\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n' +
    `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n${extraHeaders}\r\n`
  );
}

function switching(extraHeaders = ''): string {
  return `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n${extraHeaders}\r\n`;
}

interface SeenMessage {
  text: string;
  isText: boolean;
  direction: Direction;
}

/** A classifier whose WebSocket hook records every message and flags those saying "flag me". */
function recording(): { classifier: HttpClassifier; seen: SeenMessage[] } {
  const seen: SeenMessage[] = [];
  const hook: WebSocketMessageHook = (payload, isText, direction, atMs) => {
    seen.push({ text: payload.toString('utf8'), isText, direction });
    return payload.toString('utf8') === 'flag me' ? [{ type: 'stratum', confidence: 'high', evidence: 'hook', direction, atMs }] : [];
  };
  return { classifier: new HttpClassifier(hook), seen };
}

function push(classifier: HttpClassifier, direction: Direction, data: string | Buffer, atMs = 0): ClassifierReport {
  return classifier.push(typeof data === 'string' ? Buffer.from(data, 'latin1') : data, direction, atMs);
}

/** Feeds one byte at a time; returns the last report and every detection. */
function pushBytes(classifier: HttpClassifier, direction: Direction, data: string): { state: ClassifierReport['state']; detections: Detection[] } {
  let state: ClassifierReport['state'] = 'undecided';
  const detections: Detection[] = [];
  for (const byte of Buffer.from(data, 'latin1')) {
    const report = classifier.push(Buffer.from([byte]), direction, 0);
    state = report.state;
    detections.push(...report.detections);
  }
  return { state, detections };
}

describe('HttpClassifier naming', () => {
  it('identifies HTTP once the first request head is complete, whole or byte by byte', () => {
    const whole = new HttpClassifier();
    expect(push(whole, 'up', GET.slice(0, 40)).state).toBe('undecided');
    expect(push(whole, 'up', GET.slice(40)).state).toBe('identified');

    const bytes = new HttpClassifier();
    expect(pushBytes(bytes, 'up', GET).state).toBe('identified');
    expect(bytes.facts()).toEqual(whole.facts());
  });

  it('reports the first request as the flow facts, not later ones', () => {
    const classifier = new HttpClassifier();
    push(classifier, 'up', GET);
    push(classifier, 'down', OK);
    push(classifier, 'up', SECOND_GET);
    expect(classifier.facts()).toMatchObject({
      method: 'GET',
      target: '/v1/items?page=2',
      version: '1.1',
      host: 'api.example.com',
      userAgent: 'python-requests/2.31.0',
      headers: { accept: '*/*' },
    });
  });

  it.each([
    ['TLS record', Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01])],
    ['SSH identification', Buffer.from('SSH-2.0-OpenSSH_9.6\r\n')],
    ['JSON line', Buffer.from('{"id":1,"method":"mining.subscribe"}\n')],
    ['lower-case command', Buffer.from('ping 1\n')],
    ['SOCKS5 greeting', Buffer.from([0x05, 0x01, 0x00])],
    ['HTTP/2 preface', Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n')],
  ])('rejects a flow opening with a %s', (_name, bytes) => {
    const classifier = new HttpClassifier();
    expect(classifier.push(bytes, 'up', 0).state).toBe('rejected');
    // Rejected is final: a valid request afterwards does not revive it.
    expect(push(classifier, 'up', GET).state).toBe('rejected');
    expect(classifier.facts()).toBeUndefined();
  });

  it('is not decided by what the destination sends', () => {
    const classifier = new HttpClassifier();
    expect(push(classifier, 'down', 'SSH-2.0-OpenSSH_9.2p1\r\n').state).toBe('undecided');
    expect(push(classifier, 'up', GET).state).toBe('identified');
  });

  it('stays identified when a later request breaks the framing', () => {
    const classifier = new HttpClassifier();
    push(classifier, 'up', GET);
    expect(push(classifier, 'up', '\x16\x03\x01garbage\r\n\r\n').state).toBe('identified');
  });

  it('holds at most one capped head while waiting for its end', () => {
    const classifier = new HttpClassifier();
    push(classifier, 'up', 'GET / HTTP/1.1\r\n');
    for (let i = 0; i < 100; i++) push(classifier, 'up', `X-Filler-${i}: ${'a'.repeat(1000)}\r\n`);
    expect(classifier.bufferedBytes).toBeLessThanOrEqual(64 * 1024);
    expect(push(classifier, 'up', '\r\n').state).toBe('rejected');
  });
});

describe('HttpClassifier nested CONNECT', () => {
  it('raises nested_proxy for a CONNECT inside the tunnel, naming its target', () => {
    const classifier = new HttpClassifier();
    const report = push(classifier, 'up', 'CONNECT pool.example.net:3333 HTTP/1.1\r\nHost: pool.example.net:3333\r\n\r\n', 7);
    expect(report.state).toBe('identified');
    expect(report.detections).toEqual([
      { type: 'nested_proxy', confidence: 'high', evidence: 'HTTP CONNECT pool.example.net:3333 inside the tunnel', direction: 'up', atMs: 7 },
    ]);
  });

  it('raises nothing for ordinary requests', () => {
    const classifier = new HttpClassifier();
    expect(push(classifier, 'up', GET).detections).toEqual([]);
    expect(push(classifier, 'down', OK).detections).toEqual([]);
  });
});

describe('HttpClassifier WebSocket upgrade', () => {
  it('hands decoded messages of both directions to the hook after the 101, and returns its detections', () => {
    const { classifier, seen } = recording();
    push(classifier, 'up', upgrade());
    expect(classifier.upgradedToWebSocket).toBe(false);
    push(classifier, 'down', switching());
    expect(classifier.upgradedToWebSocket).toBe(true);

    expect(push(classifier, 'up', clientFrame({ opcode: 0x1, payload: 'hello' })).detections).toEqual([]);
    expect(push(classifier, 'down', serverFrame({ opcode: 0x2, payload: Buffer.from([1, 2, 3]) })).detections).toEqual([]);
    const flagged = push(classifier, 'up', clientFrame({ opcode: 0x1, payload: 'flag me' }), 9);
    expect(flagged.detections).toEqual([expect.objectContaining({ type: 'stratum', direction: 'up', atMs: 9 })]);
    expect(seen).toEqual([
      { text: 'hello', isText: true, direction: 'up' },
      { text: '\x01\x02\x03', isText: false, direction: 'down' },
      { text: 'flag me', isText: true, direction: 'up' },
    ]);
  });

  it('inflates permessage-deflate messages before the hook sees them', async () => {
    const { classifier, seen } = recording();
    push(classifier, 'up', upgrade('Sec-WebSocket-Extensions: permessage-deflate\r\n'));
    push(classifier, 'down', switching('Sec-WebSocket-Extensions: permessage-deflate\r\n'));
    const [compressed] = await deflateMessages([Buffer.from('{"method":"mining.subscribe"}')]);
    push(classifier, 'up', clientFrame({ opcode: 0x1, payload: compressed ?? Buffer.alloc(0), rsv1: true }));
    expect(seen).toEqual([{ text: '{"method":"mining.subscribe"}', isText: true, direction: 'up' }]);
  });

  it('raises tunnel_tool when the handshake offers chisel, with the 101', () => {
    const classifier = new HttpClassifier();
    push(classifier, 'up', upgrade('Sec-WebSocket-Protocol: chisel-v3\r\n'));
    const report = push(classifier, 'down', switching('Sec-WebSocket-Protocol: chisel-v3\r\n'), 4);
    expect(report.detections).toEqual([expect.objectContaining({ type: 'tunnel_tool', evidence: expect.stringContaining('chisel'), atMs: 4 })]);
  });

  it('judges the subprotocol the server selected when it selected one, else every offered one', () => {
    const offered = 'Sec-WebSocket-Protocol: chat, chisel-v3\r\n';
    const chatChosen = new HttpClassifier();
    push(chatChosen, 'up', upgrade(offered));
    expect(push(chatChosen, 'down', switching('Sec-WebSocket-Protocol: chat\r\n')).detections).toEqual([]);

    const noneChosen = new HttpClassifier();
    push(noneChosen, 'up', upgrade(offered));
    expect(push(noneChosen, 'down', switching()).detections.map((d) => d.type)).toEqual(['tunnel_tool']);
  });

  it.each([
    ['the upgrade is refused', upgrade(), 'HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n'],
    ['the 101 answers an h2c upgrade', 'GET / HTTP/1.1\r\nHost: a.example\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n', 'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n'],
  ])('does not switch to WebSocket when %s', (_name, request, response) => {
    const { classifier, seen } = recording();
    push(classifier, 'up', request);
    push(classifier, 'down', response);
    push(classifier, 'up', clientFrame({ opcode: 0x1, payload: 'hello' }));
    expect(classifier.upgradedToWebSocket).toBe(false);
    expect(seen).toEqual([]);
  });

  it('reads frames split byte by byte', () => {
    const { classifier, seen } = recording();
    pushBytes(classifier, 'up', upgrade());
    pushBytes(classifier, 'down', switching());
    const { detections } = pushBytes(classifier, 'up', clientFrame({ opcode: 0x1, payload: 'flag me' }).toString('latin1'));
    expect(detections.map((d) => d.type)).toEqual(['stratum']);
    expect(seen).toEqual([{ text: 'flag me', isText: true, direction: 'up' }]);
  });
});

describe('HttpClassifier on a tunnel opened to a host', () => {
  it('flags a later request whose Host is another host, but not the first one (the policy judges that)', () => {
    const classifier = new HttpClassifier(undefined, 'api.example.com');
    expect(push(classifier, 'up', GET).detections).toEqual([]);
    push(classifier, 'down', OK);
    const second = push(classifier, 'up', SECOND_GET, 5);
    expect(second.detections).toMatchObject([{ type: 'host_mismatch', confidence: 'high', direction: 'up', atMs: 5 }]);
    expect(second.detections[0]?.evidence).toMatch(/request 2 of a tunnel to api\.example\.com names other\.example\.com/);
  });

  it('accepts later requests for the same host whatever the case, trailing dot or port', () => {
    const classifier = new HttpClassifier(undefined, 'api.example.com');
    push(classifier, 'up', GET);
    push(classifier, 'down', OK);
    expect(push(classifier, 'up', 'GET /a HTTP/1.1\r\nHost: API.Example.COM.:443\r\n\r\n').detections).toEqual([]);
  });

  it('reports the agent switching to non-HTTP bytes after a valid request, once', () => {
    const classifier = new HttpClassifier(undefined, 'api.example.com');
    push(classifier, 'up', GET);
    const broken = push(classifier, 'up', Buffer.from([0x16, 0x03, 0x01, 0x00, 0x10]));
    expect(broken.detections).toMatchObject([{ type: 'protocol_mismatch', confidence: 'medium' }]);
    expect(push(classifier, 'up', 'more garbage').detections).toEqual([]);
  });
});

describe('HttpClassifier: upgrades and absolute-form targets', () => {
  it('flags a later request whose absolute-form target names another host, whatever its Host header', () => {
    const classifier = new HttpClassifier(undefined, 'api.example.com');
    push(classifier, 'up', GET);
    push(classifier, 'down', OK);
    const fronted = push(classifier, 'up', 'GET http://other.example.com/ HTTP/1.1\r\nHost: api.example.com\r\n\r\n');
    expect(fronted.detections).toMatchObject([{ type: 'host_mismatch' }]);
  });

  it('hands bytes after a non-WebSocket 101 through without calling them broken HTTP', () => {
    const classifier = new HttpClassifier(undefined, 'api.example.com');
    push(classifier, 'up', 'POST /containers/x/attach HTTP/1.1\r\nHost: api.example.com\r\nUpgrade: tcp\r\nConnection: Upgrade\r\n\r\n');
    push(classifier, 'down', 'HTTP/1.1 101 UPGRADED\r\nUpgrade: tcp\r\nConnection: Upgrade\r\n\r\n');
    expect(push(classifier, 'up', Buffer.from([0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x68, 0x69])).detections).toEqual([]);
  });
});
