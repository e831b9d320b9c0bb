import type { ClassifierReport, Detection, Direction, HttpFacts, StreamClassifier } from '../types.js';
import { WebSocketInspector, type WebSocketMessageHook } from '../websocket/websocket-inspector.js';
import { parseWebSocketHandshake } from '../websocket/handshake.js';
import { HttpMessageStream, type HttpStreamEvent } from './message-stream.js';

/**
 * Names HTTP/1.x from the agent's first request and keeps reading the connection: every request head
 * (keep-alive, pipelining), a nested CONNECT (a proxy inside the tunnel), and a WebSocket upgrade,
 * after which the frames go to a WebSocketInspector whose messages are classified again through
 * `onWebSocketMessage` (Stratum or SSH inside WebSocket). Mining inside HTTP bodies is the
 * HttpMiningClassifier's job.
 */
export class HttpClassifier implements StreamClassifier {
  readonly protocol = 'http' as const;
  private state: ClassifierReport['state'] = 'undecided';
  private readonly requests = new HttpMessageStream('request');
  private readonly responses = new HttpMessageStream('response');
  private firstRequest: HttpFacts | undefined;
  private upgradeRequest: HttpFacts | undefined;
  private websocket: WebSocketInspector | undefined;

  constructor(private readonly onWebSocketMessage?: WebSocketMessageHook) {}

  /** The first request's head (method, target, Host, User-Agent, headers). */
  facts(): HttpFacts | undefined {
    return this.firstRequest;
  }

  get upgradedToWebSocket(): boolean {
    return this.websocket !== undefined;
  }

  get bufferedBytes(): number {
    return this.requests.bufferedBytes + this.responses.bufferedBytes + (this.websocket?.bufferedBytes ?? 0);
  }

  push(chunk: Buffer, direction: Direction, atMs: number): ClassifierReport {
    if (this.state === 'rejected') return { state: 'rejected', detections: [] };
    const stream = direction === 'up' ? this.requests : this.responses;
    const detections: Detection[] = [];
    for (const event of stream.push(chunk)) detections.push(...this.onEvent(event, direction, atMs));
    if (this.state === 'undecided') {
      if (this.firstRequest) this.state = 'identified';
      else if (this.requests.failed) this.state = 'rejected';
    }
    return { state: this.state, detections };
  }

  private onEvent(event: HttpStreamEvent, direction: Direction, atMs: number): Detection[] {
    switch (event.kind) {
      case 'request':
        this.firstRequest ??= event.head;
        if (event.head.upgrade === 'websocket') this.upgradeRequest = event.head;
        if (event.head.method.toUpperCase() === 'CONNECT') {
          return [{ type: 'nested_proxy', confidence: 'high', evidence: `HTTP CONNECT ${event.head.target.slice(0, 200)} inside the tunnel`, direction, atMs }];
        }
        return [];
      case 'response':
        if (event.head.status === 101 && this.upgradeRequest && !this.websocket) {
          const handshake = parseWebSocketHandshake(this.upgradeRequest.headers, event.head.headers);
          this.websocket = new WebSocketInspector(
            { subprotocols: handshake.selectedSubprotocol ? [handshake.selectedSubprotocol] : handshake.subprotocols, extensions: handshake.extensions },
            this.onWebSocketMessage ? { onMessage: this.onWebSocketMessage } : {},
          );
          this.requests.switchToTunnel();
          // Handshake-level findings (chisel, wstunnel) come out on the first push.
          return this.websocket.push(Buffer.alloc(0), 'up', atMs).detections;
        }
        return [];
      case 'tunnel':
        return this.websocket ? this.websocket.push(event.data, direction, atMs).detections : [];
      default:
        return [];
    }
  }
}
