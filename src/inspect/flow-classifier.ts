import { HttpClassifier } from './http/http-classifier.js';
import { Http2PrefaceClassifier } from './signatures/http2-preface.js';
import { NestedProxyClassifier } from './signatures/nested-proxy.js';
import { ReverseShellClassifier } from './signatures/reverse-shell.js';
import { TunnelToolClassifier } from './signatures/tunnel-tools.js';
import { SshClassifier } from './ssh/ssh-classifier.js';
import { HttpMiningClassifier } from './stratum/http-mining.js';
import { inspectMessage, StratumClassifier } from './stratum/stratum-classifier.js';
import { TlsClassifier } from './tls/tls-classifier.js';
import type { Detection, Direction, HttpFacts, ProtocolName, SshFacts, StratumFacts, StreamClassifier, TlsFacts } from './types.js';
import type { WebSocketMessageHook } from './websocket/websocket-inspector.js';

/**
 * Runs every classifier side by side on one flow and says what the flow speaks, whatever its port.
 *
 * Two kinds of classifier take part:
 * - *namers* (TLS, SSH, HTTP, HTTP/2, nested SOCKS / PROXY protocol, Stratum) each claim or reject the
 *   flow; the first to claim it names the protocol; when all reject, the flow is `unknown`;
 * - *watchers* (mining over HTTP, reverse-shell banners, bore / frp control channels) only raise detections.
 * After the protocol is named, only what can still learn something keeps being fed — plaintext HTTP
 * (every request, WebSocket messages), Stratum, and the watchers of unnamed flows — so the cost of
 * inspection stops where the bytes become opaque (TLS, SSH). Every classifier has hard caps; this
 * dispatcher adds none of its own state beyond the list of who is still listening.
 */

export interface FlowClassification {
  protocol: ProtocolName;
  /** False while the namers are still undecided. */
  decided: boolean;
  tls?: TlsFacts;
  http?: HttpFacts;
  ssh?: SshFacts;
  stratum?: StratumFacts;
  websocket?: boolean;
  /** Every detection so far, in order. */
  detections: Detection[];
}

interface Entry {
  classifier: StreamClassifier;
  /** Namers decide the protocol; watchers only detect. */
  role: 'namer' | 'watcher';
  /** Keeps listening after the protocol is named (plaintext it can still learn from). */
  continuous: (protocol: ProtocolName) => boolean;
  /** Has nothing more to learn (checked after each push once the protocol is named). */
  finished?: () => boolean;
}

/** Priority when two namers claim the same bytes: the more specific framing wins. */
const PRIORITY: ProtocolName[] = ['tls', 'ssh', 'http2', 'socks', 'proxy-protocol', 'http', 'stratum'];

export class FlowClassifier {
  private readonly tls = new TlsClassifier();
  private readonly ssh = new SshClassifier();
  private readonly http: HttpClassifier;
  private readonly nested = new NestedProxyClassifier();
  private readonly stratum = new StratumClassifier();
  private readonly httpMining = new HttpMiningClassifier();
  private entries: Entry[];
  private named: ProtocolName | undefined;
  private readonly detections: Detection[] = [];
  private factsSettledTaken = false;

  /** `targetHost`: the normalised host the flow was opened to, for checks that compare against it. */
  constructor(options: { targetHost?: string } = {}) {
    const stratumInWebSocket: WebSocketMessageHook = (payload, isText, direction, atMs) => {
      // Miners may send their JSON in binary frames too: look at any message that starts like JSON.
      if (!isText && !startsLikeJson(payload)) return [];
      const found = inspectMessage(payload.toString('utf8'), direction, atMs);
      return found ? [found] : [];
    };
    this.http = new HttpClassifier(stratumInWebSocket, options.targetHost);
    const never = (): boolean => false;
    this.entries = [
      { classifier: this.tls, role: 'namer', continuous: never },
      // SSH is named on the client's identification line, but the server's line, both KEXINITs (HASSH)
      // and the key-exchange messages that reveal a reverse tunnel come after it, until NEWKEYS.
      {
        classifier: this.ssh,
        role: 'namer',
        continuous: (p) => p === 'ssh',
        // ...and after NEWKEYS the packet sizes and timings that reveal `ssh -R`, for a bounded stretch.
        finished: () => this.ssh.encryptedFrom('up') !== undefined && this.ssh.encryptedFrom('down') !== undefined && this.ssh.behaviourFinished,
      },
      { classifier: new Http2PrefaceClassifier(), role: 'namer', continuous: never },
      { classifier: this.nested, role: 'namer', continuous: never },
      { classifier: this.http, role: 'namer', continuous: (p) => p === 'http' },
      { classifier: this.stratum, role: 'namer', continuous: (p) => p === 'stratum' || p === 'unknown' },
      { classifier: this.httpMining, role: 'watcher', continuous: (p) => p === 'http' },
      { classifier: new ReverseShellClassifier(), role: 'watcher', continuous: (p) => p === 'unknown' || p === 'reverse-shell' },
      // bore and frp control channels (JSON no namer claims) when they run without TLS.
      { classifier: new TunnelToolClassifier(), role: 'watcher', continuous: (p) => p === 'unknown' },
    ];
  }

  /** Feeds one read; returns the detections it raised. Never throws. */
  push(chunk: Buffer, direction: Direction, atMs: number): Detection[] {
    // Namers first: a read that names the flow must not reach watchers meant for other protocols
    // (an HTTP body quoting `id` output is not a reverse shell, whichever read it arrives in).
    const namers = this.feed('namer', chunk, direction, atMs);
    if (this.named === undefined) {
      const winner = PRIORITY.find((protocol) => namers.identified.includes(protocol));
      if (winner) this.name(winner);
      else if (!this.namersLeft()) this.name('unknown');
    }
    const raised = [...namers.detections, ...this.feed('watcher', chunk, direction, atMs).detections];
    if (this.named !== undefined) this.entries = this.entries.filter((entry) => !entry.finished?.());
    // HTTP is named on the agent's first request; the 101 that turns it into WebSocket comes later.
    if (this.named === 'http' && this.http.upgradedToWebSocket) this.named = 'websocket';
    // Watchers can name an unknown flow after the fact.
    if (this.named === 'unknown') {
      if (raised.some((detection) => detection.type === 'stratum')) this.named = 'stratum';
      else if (raised.some((detection) => detection.type === 'reverse_shell')) this.named = 'reverse-shell';
    }
    this.detections.push(...raised);
    return raised;
  }

  /**
   * True once, when the facts that go into events are complete although inspection goes on: an SSH
   * flow past both NEWKEYS (banners, HASSH and algorithms are known; only behaviour is still watched).
   */
  takeFactsSettled(): boolean {
    if (this.factsSettledTaken || this.named !== 'ssh') return false;
    if (this.ssh.encryptedFrom('up') === undefined || this.ssh.encryptedFrom('down') === undefined) return false;
    this.factsSettledTaken = true;
    return true;
  }

  /** The peek window ended without a namer claiming the flow: call it unknown and stop waiting. */
  giveUp(): void {
    if (this.named === undefined) this.name('unknown');
  }

  /** True once the protocol is named (cheaper than building `classification`). */
  get decided(): boolean {
    return this.named !== undefined;
  }

  /** True while some classifier can still learn from more bytes (the relay keeps its tap on). */
  get listening(): boolean {
    return this.entries.length > 0;
  }

  get classification(): FlowClassification {
    const http = this.http.facts();
    const ssh = this.ssh.facts();
    const tls = this.tls.facts();
    const stratum = this.stratum.facts() ?? this.httpMining.facts();
    return {
      protocol: this.named ?? 'unknown',
      decided: this.named !== undefined,
      ...(tls ? { tls } : {}),
      ...(http ? { http } : {}),
      ...(ssh.clientBanner || ssh.serverBanner ? { ssh } : {}),
      ...(stratum ? { stratum } : {}),
      ...(this.http.upgradedToWebSocket ? { websocket: true } : {}),
      detections: [...this.detections],
    };
  }

  /**
   * Whether a namer may still claim the flow. A JSON stream whose first message was not mining is
   * not waited for: it is named `unknown` now and the Stratum classifier keeps watching it.
   */
  private namersLeft(): boolean {
    return this.entries.some(
      (entry) => entry.role === 'namer' && !(entry.classifier === this.stratum && this.stratum.firstMessageWasNotMining),
    );
  }

  private name(protocol: ProtocolName): void {
    this.named = protocol;
    this.entries = this.entries.filter((entry) => entry.continuous(protocol));
  }

  private nameOf(classifier: StreamClassifier): ProtocolName {
    return classifier === this.nested ? (this.nested.nestedProtocol ?? 'socks') : classifier.protocol;
  }

  /** Feeds the entries of one role; returns their detections and the protocols they identified. */
  private feed(role: Entry['role'], chunk: Buffer, direction: Direction, atMs: number): { detections: Detection[]; identified: ProtocolName[] } {
    const detections: Detection[] = [];
    const identified: ProtocolName[] = [];
    for (const entry of this.entries) {
      if (entry.role !== role) continue;
      const report = entry.classifier.push(chunk, direction, atMs);
      detections.push(...report.detections);
      if (report.state === 'identified') identified.push(this.nameOf(entry.classifier));
      if (report.state === 'rejected') this.drop(entry);
    }
    return { detections, identified };
  }

  private drop(entry: Entry): void {
    this.entries = this.entries.filter((candidate) => candidate !== entry);
  }
}

/** First non-whitespace byte is `{` or `[` (within the first few bytes). */
function startsLikeJson(payload: Buffer): boolean {
  for (let i = 0; i < Math.min(payload.length, 16); i++) {
    const byte = payload[i];
    if (byte === 0x20 || byte === 0x09 || byte === 0x0a || byte === 0x0d) continue;
    return byte === 0x7b || byte === 0x5b;
  }
  return false;
}
