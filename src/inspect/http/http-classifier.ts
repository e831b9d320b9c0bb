import type { ClassifierReport, Detection, Direction, HttpFacts, StreamClassifier } from '../types.js';
import { WebSocketInspector, type WebSocketMessageHook } from '../websocket/websocket-inspector.js';
import { parseWebSocketHandshake } from '../websocket/handshake.js';
import { hostOfHostHeader, sameHost } from '../../net/host-header.js';
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
  private requestCount = 0;
  private framingReported = false;

  /**
   * `targetHost`: the normalised host the tunnel was opened to; every request after the first is
   * checked against it (the first is judged with the flow's protocol by the policy).
   */
  constructor(
    private readonly onWebSocketMessage?: WebSocketMessageHook,
    private readonly targetHost?: string,
  ) {}

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
      case 'request': {
        this.firstRequest ??= event.head;
        this.requestCount++;
        if (event.head.upgrade === 'websocket') this.upgradeRequest = event.head;
        if (event.head.method.toUpperCase() === 'CONNECT') {
          return [{ type: 'nested_proxy', confidence: 'high', evidence: `HTTP CONNECT ${event.head.target.slice(0, 200)} inside the tunnel`, direction, atMs }];
        }
        if (this.requestCount === 1 || this.targetHost === undefined) return [];
        // Servers route by an absolute-form target before the Host header (RFC 9112 §3.2.2): check both.
        for (const named of [event.head.host, authorityOf(event.head.target)]) {
          if (named !== undefined && !sameHost(hostOfHostHeader(named), this.targetHost)) {
            return [{ type: 'host_mismatch', confidence: 'high', evidence: `request ${this.requestCount} of a tunnel to ${this.targetHost} names ${named.slice(0, 200)}`, direction, atMs }];
          }
        }
        return [];
      }
      case 'error':
        // Bytes that stop being HTTP after a valid request (smuggling, a protocol switch without a 101)
        // would otherwise end inspection silently. Only the agent's side counts: responses to HEAD are
        // framed as if they had a body (a known limit of reading responses without their requests).
        if (direction !== 'up' || this.requestCount === 0 || this.framingReported) return [];
        this.framingReported = true;
        return [{ type: 'protocol_mismatch', confidence: 'medium', evidence: `the agent's bytes stopped being HTTP after request ${this.requestCount}: ${event.reason}`, direction, atMs }];
      case 'response':
        // Any 101 ends HTTP on both sides (WebSocket, or another upgrade such as Docker's `tcp`).
        if (event.head.status === 101) this.requests.switchToTunnel();
        if (event.head.status === 101 && this.upgradeRequest && !this.websocket) {
          const handshake = parseWebSocketHandshake(this.upgradeRequest.headers, event.head.headers);
          this.websocket = new WebSocketInspector(
            { subprotocols: handshake.selectedSubprotocol ? [handshake.selectedSubprotocol] : handshake.subprotocols, extensions: handshake.extensions },
            this.onWebSocketMessage ? { onMessage: this.onWebSocketMessage } : {},
          );
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

/** The authority of an absolute-form request target (`http://host:port/path`), if it is one. */
function authorityOf(target: string): string | undefined {
  const match = /^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)/i.exec(target);
  if (!match) return undefined;
  const authority = match[1] ?? '';
  const at = authority.lastIndexOf('@');
  return at >= 0 ? authority.slice(at + 1) : authority;
}
