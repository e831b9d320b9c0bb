/**
 * Encrypted-phase behaviour of an outbound SSH connection, looking for a reverse tunnel (protocol notes
 * §2.6). Fed the bytes each side sends after its NEWKEYS; works on *units* (exact packets where lengths
 * are in clear, reads otherwise) and their sizes, directions and arrival times only.
 *
 * Rules (each reported at most once per connection, with its own confidence):
 * - R1 authentication success: the first server unit of the bare-message size (USERAUTH_SUCCESS).
 * - R2 remote forward (`ssh -R`): among the first client units after R1, a tcpip-forward GLOBAL_REQUEST
 *   (OpenSSH sends it before opening its session) → medium.
 * - R3 server-opened channel: a server unit of CHANNEL_OPEN "forwarded-tcpip" size answered by a client
 *   unit of OPEN_CONFIRMATION size → high after R2; without R2 it is only remembered (an interactive
 *   session can produce the same two sizes), to anchor R4.
 * - R4 inner SSH: after R3, inner identification lines (CHANNEL_DATA of 11–255 bytes) both ways, then
 *   large units both ways (the inner KEXINITs) → high.
 * - R5 wrapped keystrokes: a server unit of a wrapped-keystroke size answered by the client with the
 *   same inner packet, repeated → medium, high when the answers come faster than the server's own
 *   turnaround measured before authentication (the interactive endpoint is local) or after R3.
 *
 * Bounded: a connection that shows nothing suspicious within the first POST_AUTH_QUIET_UNITS units after
 * authentication is no longer inspected, because OpenSSH requests every `-R` forward right after
 * authentication and a server can only open forwarded channels for a forward that was requested. Known
 * blind spots of this bound: forwards added later (`~C`, `ssh -O forward`), clients that request them late.
 */
import type { Confidence, Direction } from '../../types.js';
import type { PacketGeometry } from './packet-sizes.js';
import { sizeCatalogue, type SizeCatalogue } from './size-catalogue.js';
import { UnitFramer } from './unit-framer.js';

export interface BehaviourFinding {
  rule: 'remote-forward' | 'server-opened-channel' | 'inner-ssh' | 'wrapped-keystrokes';
  confidence: Confidence;
  evidence: string;
  direction: Direction;
  atMs: number;
}

/** Give up finding authentication success after this many encrypted units (password retries, banners). */
const PRE_AUTH_MAX_UNITS = 96;
/** Units after authentication within which something suspicious must show, or inspection stops. */
const POST_AUTH_QUIET_UNITS = 64;
/** Once suspicious, how long to keep watching for stronger evidence. */
const SUSPICIOUS_MAX_UNITS = 16_384;
/** The remote-forward request must be among this many client units after authentication. */
const REMOTE_FORWARD_POSITION = 2;
/** A keepalive look-alike counts as tcpip-forward only this soon after authentication (ServerAliveInterval ≥ 1 s). */
const KEEPALIVE_GUARD_MS = 1000;
/** Server units after R3 within which the inner identification and KEXINITs must appear. */
const INNER_SSH_WINDOW_UNITS = 32;
/** Wrapped keystroke pairs needed for R5, and how many units may pass between two pairs. */
const KEYSTROKE_PAIRS = 6;
const KEYSTROKE_GAP_UNITS = 24;
const TURNAROUND_SAMPLES = 32;

type Side = 'client' | 'server';

export class ReverseTunnelAnalyser {
  private readonly sizes: SizeCatalogue;
  private readonly framers: Record<Side, UnitFramer>;
  /** Every rule that fired, reported or not. */
  private readonly findings: BehaviourFinding[] = [];
  /** Findings not yet handed to the caller. */
  private pending: BehaviourFinding[] = [];
  private done = false;

  private units = 0;
  private lastSide: Side | undefined;
  private lastSize = 0;
  private lastAt = 0;
  /** Smallest server turnaround (client unit → next server unit) before authentication. */
  private serverTurnaround = Number.POSITIVE_INFINITY;

  private authAt: number | undefined;
  private authUnit = 0;
  private postAuthClientUnits = 0;
  private remoteForward: { size: number; atMs: number; detail: string } | undefined;
  private sessionOpened = false;
  /** A tcpip-forward-sized request that could also be no-more-sessions, waiting for its reply. */
  private ambiguousForward: { size: number; request: number; atMs: number } | undefined;
  private replyWatch = 0;
  private replySeen = false;
  private serverOpen: { size: number; atMs: number; unit: number } | undefined;
  private pendingOpen: { size: number; atMs: number } | undefined;
  private inner = { clientBanner: false, serverBanner: false, clientLarge: false, serverLarge: false };

  private keystrokePairs = 0;
  private lastPairUnit = 0;
  private readonly turnarounds = new Float64Array(TURNAROUND_SAMPLES);
  private turnaroundCount = 0;

  constructor(private readonly client: PacketGeometry, private readonly server: PacketGeometry) {
    this.sizes = sizeCatalogue(client, server);
    this.framers = {
      client: new UnitFramer(client, (size, atMs) => this.onUnit('client', size, atMs)),
      server: new UnitFramer(server, (size, atMs) => this.onUnit('server', size, atMs)),
    };
  }

  /** True once nothing more can be learnt: the caller stops feeding. */
  get finished(): boolean {
    return this.done;
  }

  /** Feeds encrypted bytes sent by the SSH client (`client`) or server; returns findings new in this push. */
  push(chunk: Buffer, side: Side, atMs: number): BehaviourFinding[] {
    if (this.done) return [];
    this.framers[side].push(chunk, atMs);
    if (this.pending.length === 0) return [];
    const fresh = this.pending;
    this.pending = [];
    return fresh;
  }

  private onUnit(side: Side, size: number, atMs: number): void {
    if (this.done) return;
    this.units += 1;
    if (this.authAt === undefined) this.beforeAuth(side, size, atMs);
    else this.afterAuth(side, size, atMs);
    this.lastSide = side;
    this.lastSize = size;
    this.lastAt = atMs;
  }

  private beforeAuth(side: Side, size: number, atMs: number): void {
    if (side === 'server' && this.lastSide === 'client') this.serverTurnaround = Math.min(this.serverTurnaround, atMs - this.lastAt);
    if (side === 'server' && size === this.sizes.bareServerMessage) {
      this.authAt = atMs;
      this.authUnit = this.units;
      return;
    }
    if (this.units >= PRE_AUTH_MAX_UNITS) this.done = true;
  }

  private afterAuth(side: Side, size: number, atMs: number): void {
    const sinceAuth = this.units - this.authUnit;
    if (side === 'client') {
      this.postAuthClientUnits += 1;
      this.checkRemoteForward(size, atMs);
      this.checkOpenConfirmation(size, atMs);
      this.checkKeystrokeEcho(size, atMs);
    } else {
      this.checkReply(size, atMs);
      this.pendingOpen = size >= this.sizes.forwardedOpenMin && size <= this.sizes.forwardedOpenMax ? { size, atMs } : undefined;
    }
    this.checkInnerSsh(side, size, atMs);
    const suspicious = this.remoteForward !== undefined || this.serverOpen !== undefined || this.ambiguousForward !== undefined;
    // The strongest rules have spoken: the analyst has the whole story, nothing more to watch for.
    if (this.findingOf('inner-ssh') && this.findingOf('wrapped-keystrokes')) this.done = true;
    else if (!suspicious && sinceAuth >= POST_AUTH_QUIET_UNITS) this.done = true;
    else if (sinceAuth >= SUSPICIOUS_MAX_UNITS) this.done = true;
  }

  /**
   * R2: `ssh -R` sends its tcpip-forward requests right after authentication, before its session open
   * and its no-more-sessions request. Where a tcpip-forward is the same size as no-more-sessions (which
   * `ssh -N` sends alone), the request is only believed once a reply or the session open follows it,
   * since no-more-sessions asks for no reply.
   */
  private checkRemoteForward(size: number, atMs: number): void {
    if (this.remoteForward || this.authAt === undefined) return;
    const ambiguous = this.ambiguousForward;
    if (ambiguous) {
      this.ambiguousForward = undefined;
      const next = this.opensSession(size) ? 'the session open' : size === this.sizes.noMoreSessions ? 'no-more-sessions' : undefined;
      if (next) this.reportRemoteForward(ambiguous.size, ambiguous.request, ambiguous.atMs, atMs, `followed by ${next}`);
      return;
    }
    if (this.sessionOpened || this.postAuthClientUnits > REMOTE_FORWARD_POSITION) return;
    // OpenSSH requests its remote forwards before it opens the session: once the session is open,
    // later requests of the same size are something else.
    if (this.opensSession(size)) {
      this.sessionOpened = true;
      return;
    }
    const request = this.remoteForwardIn(size);
    if (request === undefined) return;
    if (this.sizes.keepaliveLookalikes.has(request) && atMs - this.authAt > KEEPALIVE_GUARD_MS) return;
    this.replyWatch = 4;
    if (request === size && size === this.sizes.noMoreSessions) this.ambiguousForward = { size, request, atMs };
    else this.reportRemoteForward(size, request, atMs, atMs, undefined);
  }

  private opensSession(size: number): boolean {
    const { sessionOpen, noMoreSessions } = this.sizes;
    return size === sessionOpen || size === sessionOpen + noMoreSessions;
  }

  private reportRemoteForward(size: number, request: number, atMs: number, decidedAtMs: number, confirmation: string | undefined): void {
    const sinceAuth = atMs - (this.authAt ?? atMs);
    const detail = request === size ? `${size}` : `${request} (in a ${size}-byte read)`;
    this.remoteForward = { size, atMs, detail };
    const confirmed = confirmation === undefined ? '' : `, ${confirmation}`;
    this.report('remote-forward', 'medium', 'up', decidedAtMs,
      `client sent a tcpip-forward-sized request (${detail} bytes) ${formatMs(sinceAuth)} after authentication succeeded, before any session (ssh -R)${confirmed}`);
  }

  /**
   * The tcpip-forward size a client unit holds, if any: the unit itself, or (when reads are units) a read
   * that also carries what OpenSSH writes right after it (session open, no-more-sessions).
   */
  private remoteForwardIn(size: number): number | undefined {
    const { tcpipForward, sessionOpen, noMoreSessions } = this.sizes;
    if (tcpipForward.has(size)) return size;
    if (this.framers.client.framesPackets) return undefined;
    for (const rest of [noMoreSessions, sessionOpen, sessionOpen + noMoreSessions]) {
      if (tcpipForward.has(size - rest)) return size - rest;
    }
    return undefined;
  }

  private checkReply(size: number, atMs: number): void {
    if (this.replyWatch === 0) return;
    this.replyWatch -= 1;
    if (size !== this.sizes.bareServerMessage && size !== this.sizes.allocatedPortReply) return;
    this.replySeen = true;
    this.replyWatch = 0;
    const ambiguous = this.ambiguousForward;
    if (!ambiguous) return;
    this.ambiguousForward = undefined;
    this.reportRemoteForward(ambiguous.size, ambiguous.request, ambiguous.atMs, atMs, `answered by a ${size}-byte reply ${formatMs(atMs - ambiguous.atMs)} later`);
  }

  /** R3: the server opened a channel (forwarded-tcpip) and the client confirmed it at once. */
  private checkOpenConfirmation(size: number, atMs: number): void {
    const open = this.pendingOpen;
    this.pendingOpen = undefined;
    if (!open || this.lastSide !== 'server' || size !== this.sizes.openConfirmation) return;
    // Some ciphers give the session open the size of a confirmation (aes-ctr + hmac-sha2-256-etm: 68 and
    // 68). OpenSSH opens its session among its first packets after login, right after its forwards, long
    // before anything can connect to a forward: a packet that early is the session, not a confirmation.
    if (size === this.sizes.sessionOpen && this.postAuthClientUnits <= REMOTE_FORWARD_POSITION + 1) return;
    if (this.serverOpen) return;
    this.serverOpen = { size: open.size, atMs: open.atMs, unit: this.units };
    this.inner = { clientBanner: false, serverBanner: false, clientLarge: false, serverLarge: false };
    if (!this.remoteForward) return;
    const reply = this.replySeen ? ', its reply seen' : '';
    this.report('server-opened-channel', 'high', 'down', open.atMs,
      `after the tcpip-forward request (${this.remoteForward.detail} bytes${reply}), the server opened a channel (${open.size} bytes, forwarded-tcpip size) and the client confirmed it (${size} bytes) ${formatMs(atMs - open.atMs)} later`);
  }

  /** R4: after a server-opened channel, identification lines and then KEXINIT-sized data both ways. */
  private checkInnerSsh(side: Side, size: number, atMs: number): void {
    const open = this.serverOpen;
    if (!open || this.units - open.unit > INNER_SSH_WINDOW_UNITS || this.findingOf('inner-ssh')) return;
    const inner = this.inner;
    const banner = side === 'client' ? this.sizes.bannerClient : this.sizes.bannerServer;
    const large = side === 'client' ? this.sizes.largeClient : this.sizes.largeServer;
    if (side === 'client') {
      if (inner.clientBanner && size >= large) inner.clientLarge = true;
      else if (size >= banner.min && size <= banner.max) inner.clientBanner = true;
    } else {
      if (inner.serverBanner && size >= large) inner.serverLarge = true;
      else if (size >= banner.min && size <= banner.max) inner.serverBanner = true;
    }
    if (!(inner.clientBanner && inner.serverBanner && inner.clientLarge && inner.serverLarge)) return;
    this.report('inner-ssh', 'high', side === 'client' ? 'up' : 'down', atMs,
      `an SSH session runs inside the channel the server opened ${formatMs(atMs - open.atMs)} earlier (${open.size} bytes): identification-sized data both ways, then KEXINIT-sized data both ways`);
  }

  /** R5: server-initiated wrapped keystrokes echoed by the local side. */
  private checkKeystrokeEcho(size: number, atMs: number): void {
    if (this.lastSide !== 'server') return;
    const echo = this.sizes.wrappedKeystrokeEcho.get(this.lastSize);
    if (echo === undefined || echo !== size) return;
    if (this.units - this.lastPairUnit > KEYSTROKE_GAP_UNITS) this.keystrokePairs = 0;
    this.keystrokePairs += 1;
    this.lastPairUnit = this.units;
    this.turnarounds[this.turnaroundCount % TURNAROUND_SAMPLES] = atMs - this.lastAt;
    this.turnaroundCount += 1;
    if (this.keystrokePairs < KEYSTROKE_PAIRS || this.findingOf('wrapped-keystrokes')) return;
    const median = this.medianTurnaround();
    const faster = Number.isFinite(this.serverTurnaround) && median < this.serverTurnaround;
    const confidence: Confidence = faster || this.serverOpen ? 'high' : 'medium';
    const timing = Number.isFinite(this.serverTurnaround)
      ? `; median local answer ${formatMs(median)} vs the server's own turnaround ${formatMs(this.serverTurnaround)}`
      : `; median local answer ${formatMs(median)}`;
    this.report('wrapped-keystrokes', confidence, 'down', atMs,
      `${this.keystrokePairs} server-initiated ${this.lastSize}-byte units (a wrapped SSH keystroke) each answered by a ${size}-byte client unit${timing}`);
  }

  private medianTurnaround(): number {
    const count = Math.min(this.turnaroundCount, TURNAROUND_SAMPLES);
    const samples = Array.from(this.turnarounds.subarray(0, count)).sort((a, b) => a - b);
    return samples[Math.floor(count / 2)] ?? 0;
  }

  private findingOf(rule: BehaviourFinding['rule']): boolean {
    return this.findings.some((finding) => finding.rule === rule);
  }

  private report(rule: BehaviourFinding['rule'], confidence: Confidence, direction: Direction, atMs: number, evidence: string): void {
    const finding = { rule, confidence, evidence, direction, atMs };
    this.findings.push(finding);
    this.pending.push(finding);
  }
}

function formatMs(ms: number): string {
  return `${ms < 10 ? ms.toFixed(2) : Math.round(ms)} ms`;
}
