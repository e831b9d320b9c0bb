/**
 * A real WebSocket client (Node's built-in undici WebSocket, behind --experimental-websocket in Node 20)
 * talks to a minimal test server; the bytes of both directions, as they crossed the socket, are then fed
 * to the inspector. The client masks its frames itself, and it inflates the server's permessage-deflate
 * messages (context takeover) with its own inflater and echoes them back, which checks that the server's
 * compression is what a real peer accepts.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { Detection, Direction } from '../../src/inspect/types.js';
import { FrameParser, Opcode } from '../../src/inspect/websocket/frame-parser.js';
import { parseWebSocketHandshake, WebSocketInspector } from '../../src/inspect/websocket/websocket-inspector.js';
import { deflateMessages, serverFrame } from '../unit/inspect/websocket-frames.js';

const ACCEPT_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const SERVER_MESSAGES = [
  '{"id":1,"jsonrpc":"2.0","method":"job","params":{"blob":"0707","job_id":"1","target":"b88d0600"}}',
  '{"id":2,"jsonrpc":"2.0","method":"job","params":{"blob":"0708","job_id":"2","target":"b88d0600"}}',
  'SSH-chisel-v3-server\r\n',
];

/** Connects, sends an SSH-looking banner and a greeting, echoes every server message, then closes. */
const CLIENT_SCRIPT = `
const ws = new WebSocket(process.env.WS_URL, ['chisel-v3']);
let received = 0;
ws.onopen = () => { ws.send(new TextEncoder().encode('SSH-chisel-v3-client\\r\\n')); ws.send('hello from client'); };
ws.onmessage = (event) => {
  ws.send('echo:' + event.data);
  if (++received === ${SERVER_MESSAGES.length}) ws.close(1000);
};
ws.onclose = () => process.exit(0);
ws.onerror = () => process.exit(1);
`;

interface Capture {
  requestHeaders: Record<string, string>;
  responseHeaders: Record<string, string>;
  /** Post-handshake bytes in the order they crossed the socket. */
  chunks: [Direction, Buffer][];
}

let server: http.Server | undefined;
afterEach(() => server?.close());

/** Serves one WebSocket connection and records its post-handshake bytes. */
function startServer(): Promise<{ url: string; captured: Promise<Capture> }> {
  return new Promise((resolveStart) => {
    let resolveCapture: (capture: Capture) => void = () => undefined;
    const captured = new Promise<Capture>((resolve) => (resolveCapture = resolve));
    server = http.createServer();
    server.on('upgrade', (request: http.IncomingMessage, socket: Socket, head: Buffer) => {
      const requestHeaders = Object.fromEntries(
        Object.entries(request.headers).map(([name, value]) => [name, [value ?? ''].flat().join(', ')]),
      );
      const key = requestHeaders['sec-websocket-key'] ?? '';
      const responseHeaders: Record<string, string> = {
        upgrade: 'websocket',
        connection: 'Upgrade',
        'sec-websocket-accept': createHash('sha1').update(`${key}${ACCEPT_GUID}`).digest('base64'),
        'sec-websocket-protocol': 'chisel-v3',
        'sec-websocket-extensions': 'permessage-deflate',
      };
      const capture: Capture = { requestHeaders, responseHeaders, chunks: [] };
      const send = (bytes: Buffer): void => {
        capture.chunks.push(['down', bytes]);
        socket.write(bytes);
      };
      const head101 = Object.entries(responseHeaders).map(([name, value]) => `${name}: ${value}\r\n`).join('');
      socket.write(`HTTP/1.1 101 Switching Protocols\r\n${head101}\r\n`);

      // Only to answer the client's close; what is asserted is the inspector's view of the capture.
      const closeWatcher = new FrameParser({
        direction: 'up',
        allowCompression: true,
        maxFrameLength: 1 << 20,
        maxRetainedPayload: 1 << 20,
      });
      const onUp = (bytes: Buffer): void => {
        capture.chunks.push(['up', Buffer.from(bytes)]);
        if (closeWatcher.push(bytes).frames.some((frame) => frame.opcode === Opcode.close)) {
          send(serverFrame({ opcode: Opcode.close, payload: Buffer.from([0x03, 0xe8]) }));
          socket.end();
        }
      };
      if (head.length > 0) onUp(head);
      socket.on('data', onUp);
      socket.on('close', () => resolveCapture(capture));

      void deflateMessages(SERVER_MESSAGES.map((text) => Buffer.from(text))).then((compressed) => {
        for (const payload of compressed) send(serverFrame({ opcode: Opcode.text, payload, rsv1: true }));
      });
    });
    server.listen(0, '127.0.0.1', () => {
      const { port } = server?.address() as AddressInfo;
      resolveStart({ url: `ws://127.0.0.1:${port}/v1/events`, captured });
    });
  });
}

function runClient(url: string): Promise<number | null> {
  return new Promise((resolve) => {
    // Node 20 keeps its WebSocket client behind a flag; later versions have it on by default.
    const flags = typeof globalThis.WebSocket === 'function' ? [] : ['--experimental-websocket'];
    const child = spawn(process.execPath, [...flags, '--no-warnings', '--input-type=module', '-e', CLIENT_SCRIPT], {
      env: { ...process.env, WS_URL: url },
      stdio: 'ignore',
    });
    child.on('exit', (code) => resolve(code));
  });
}

describe('WebSocketInspector against a real client', () => {
  it('decodes masked client frames and context-takeover server messages from the wire', async () => {
    const { url, captured } = await startServer();
    const [exitCode, capture] = await Promise.all([runClient(url), captured]);
    expect(exitCode).toBe(0);
    expect(capture.requestHeaders['sec-websocket-extensions']).toContain('permessage-deflate');

    const handshake = parseWebSocketHandshake(capture.requestHeaders, capture.responseHeaders);
    const messages: string[] = [];
    const inspector = new WebSocketInspector(handshake, {
      onMessage: (payload, isText, direction) => {
        messages.push(`${direction}:${isText ? 'text' : 'binary'}:${payload.toString()}`);
      },
    });
    const detections: Detection[] = [];
    const states = capture.chunks.map(([direction, chunk], index) => {
      const report = inspector.push(chunk, direction, index);
      detections.push(...report.detections);
      return report.state;
    });
    expect(states.at(-1)).toBe('identified');
    expect(states).not.toContain('rejected');

    const fromServer = messages.filter((message) => message.startsWith('down:'));
    expect(fromServer).toEqual(SERVER_MESSAGES.map((text) => `down:text:${text}`));
    expect(messages.filter((message) => message.startsWith('up:'))).toEqual([
      'up:binary:SSH-chisel-v3-client\r\n',
      'up:text:hello from client',
      // The client inflated each server message with its own inflater and sent it back.
      ...SERVER_MESSAGES.map((text) => `up:text:echo:${text}`),
    ]);
    // Which side speaks first is up to the event loops, so only the set of detections is fixed.
    expect(detections.map((detection) => `${detection.type}/${detection.direction}`).sort()).toEqual([
      'tunnel_tool/down',
      'tunnel_tool/up',
      'tunnel_tool/up',
    ]);
  });
});
