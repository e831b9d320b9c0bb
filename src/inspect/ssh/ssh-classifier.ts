/**
 * Streaming SSH classifier: reads both identification lines and the cleartext key exchange of one flow,
 * computes HASSH / hasshServer and the negotiated algorithms, and raises `reverse_tunnel` when the roles
 * are inverted (the sandbox side acts as the SSH server over its own outbound connection).
 *
 * SSH roles are decided by the key-exchange messages (kex-roles.ts), not by who opened the TCP
 * connection: until one shows otherwise the TCP client (`up`) is taken as the SSH client. Facts are reported by SSH role, so the
 * client HASSH is the hash of whichever side acts as client (protocol notes §1.4.2).
 */
import type { ClassifierReport, Detection, Direction, SshFacts, StreamClassifier } from '../types.js';
import { clientHassh, serverHassh } from './hassh.js';
import { kexFamily, senderRole, type SshRole } from './kex-roles.js';
import { negotiate, type DirectionAlgorithms, type NegotiatedAlgorithms } from './negotiation.js';
import { notableBanner } from './notable-banners.js';
import { SshSideStream, type SideEvent } from './side-stream.js';
import { packetGeometry } from './behaviour/packet-sizes.js';
import { ReverseTunnelAnalyser, type BehaviourFinding } from './behaviour/reverse-tunnel-analyser.js';

export interface BannerNote {
  direction: Direction;
  banner: string;
  note: string;
}

type ClassifierState = ClassifierReport['state'];

export class SshClassifier implements StreamClassifier {
  readonly protocol = 'ssh' as const;
  /** A client must open with its identification; only a server may send text lines before it. */
  private readonly sides: Record<Direction, SshSideStream> = { up: new SshSideStream(false), down: new SshSideStream(true) };
  private state: ClassifierState = 'undecided';
  private sshClientSide: Direction = 'up';
  private sawKexMessage = false;
  private readonly bytesFrom: Record<Direction, number> = { up: 0, down: 0 };
  /**
   * Encrypted-phase behaviour (reverse tunnels): created at the first NEWKEYS when packet sizes are
   * predictable; `null` once it cannot run or has nothing more to learn.
   */
  private behaviour: ReverseTunnelAnalyser | null | undefined;
  private behaviourSkipped: string | undefined;

  push(chunk: Buffer, direction: Direction, atMs: number): ClassifierReport {
    if (this.state === 'rejected') return { state: this.state, detections: [] };
    const detections: Detection[] = [];
    const chunkStart = this.bytesFrom[direction];
    this.bytesFrom[direction] += chunk.length;
    for (const event of this.sides[direction].push(chunk)) {
      const detection = this.onEvent(event, direction, atMs);
      if (detection) detections.push(detection);
    }
    const encryptedFrom = this.sides[direction].encryptedFrom;
    if (encryptedFrom !== undefined && this.behaviour !== null) {
      const offset = Math.max(0, encryptedFrom - chunkStart);
      if (offset < chunk.length) detections.push(...this.pushEncrypted(offset === 0 ? chunk : chunk.subarray(offset), direction, atMs));
    }
    return { state: this.state, detections };
  }

  /** True once the encrypted-phase analysis is over (or could not start): nothing more to learn. */
  get behaviourFinished(): boolean {
    return this.behaviour === null;
  }

  /** Why the encrypted phase is not analysed (role inversion, unpredictable sizes), if it is not. */
  get behaviourSkippedBecause(): string | undefined {
    return this.behaviourSkipped;
  }

  private pushEncrypted(bytes: Buffer, direction: Direction, atMs: number): Detection[] {
    const analyser = this.behaviour ?? this.startBehaviour();
    if (!analyser) return [];
    const findings = analyser.push(bytes, this.roleOf(direction), atMs);
    if (analyser.finished) this.behaviour = null;
    return findings.length === 0 ? [] : findings.map(toDetection);
  }

  private startBehaviour(): ReverseTunnelAnalyser | undefined {
    const skip = (why: string): undefined => {
      this.behaviour = null;
      this.behaviourSkipped = why;
      return undefined;
    };
    // An inverted session is already reported, and its sizes would be read the wrong way round.
    if (this.sshClientSide === 'down') return skip('roles are inverted');
    const negotiated = this.negotiatedAlgorithms();
    if (!negotiated) return skip('KEXINITs not both read');
    const client = packetGeometry(negotiated.clientToServer);
    const server = packetGeometry(negotiated.serverToClient);
    if ('unpredictable' in client) return skip(client.unpredictable);
    if ('unpredictable' in server) return skip(server.unpredictable);
    this.behaviour = new ReverseTunnelAnalyser(client, server);
    return this.behaviour;
  }

  facts(): SshFacts {
    const client = this.sides[this.sshClientSide];
    const server = this.sides[opposite(this.sshClientSide)];
    const clientPrint = client.kexInit && clientHassh(client.kexInit);
    const serverPrint = server.kexInit && serverHassh(server.kexInit);
    const negotiated = this.negotiatedAlgorithms();
    return {
      clientBanner: client.line?.banner,
      serverBanner: server.line?.banner,
      hassh: clientPrint?.hash,
      hasshAlgorithms: clientPrint?.algorithms,
      hasshServer: serverPrint?.hash,
      hasshServerAlgorithms: serverPrint?.algorithms,
      negotiated: negotiated && {
        kex: negotiated.kex,
        hostKey: negotiated.hostKey,
        cipherClientToServer: negotiated.clientToServer.cipher,
        cipherServerToClient: negotiated.serverToClient.cipher,
        macClientToServer: negotiated.clientToServer.mac,
        macServerToClient: negotiated.serverToClient.mac,
      },
    };
  }

  /** The SSH role of a side: decided by the key exchange, `up` = client until then. */
  roleOf(direction: Direction): SshRole {
    return direction === this.sshClientSide ? 'client' : 'server';
  }

  /** Offset in `direction`'s byte stream where its encrypted packets start; undefined before its NEWKEYS. */
  encryptedFrom(direction: Direction): number | undefined {
    return this.sides[direction].encryptedFrom;
  }

  /** Everything negotiated, compression included; undefined until both KEXINITs are read. */
  negotiatedAlgorithms(): NegotiatedAlgorithms | undefined {
    const client = this.sides[this.sshClientSide].kexInit;
    const server = this.sides[opposite(this.sshClientSide)].kexInit;
    return client && server ? negotiate(client, server) : undefined;
  }

  /** Cipher, MAC and compression protecting the packets *sent by* `direction`. */
  algorithmsSentBy(direction: Direction): DirectionAlgorithms | undefined {
    const negotiated = this.negotiatedAlgorithms();
    if (!negotiated) return undefined;
    return this.roleOf(direction) === 'client' ? negotiated.clientToServer : negotiated.serverToClient;
  }

  /** Key-exchange message numbers (30–49) sent by `direction`, in order, capped. */
  kexMessagesFrom(direction: Direction): readonly number[] {
    return this.sides[direction].kexMessages;
  }

  /** Identification lines of tunnelling tools or odd protoversions (facts only, no detection). */
  bannerNotes(): BannerNote[] {
    const notes: BannerNote[] = [];
    for (const direction of ['up', 'down'] as const) {
      const line = this.sides[direction].line;
      const note = line && notableBanner(line);
      if (line && note) notes.push({ direction, banner: line.banner, note });
    }
    return notes;
  }

  private onEvent(event: SideEvent, direction: Direction, atMs: number): Detection | undefined {
    switch (event.type) {
      case 'banner':
        this.state = 'identified';
        return undefined;
      case 'not-ssh':
        // Once either side has identified itself the flow stays SSH; before that, the first non-SSH
        // opening decides (a real client always starts with its identification line).
        if (this.state === 'undecided') this.state = 'rejected';
        return undefined;
      case 'kex-message':
        return this.onKexMessage(event.code, direction, atMs);
    }
  }

  private onKexMessage(code: number, direction: Direction, atMs: number): Detection | undefined {
    const firstOfFlow = !this.sawKexMessage;
    this.sawKexMessage = true;
    if (this.sshClientSide === 'down') return undefined; // already inverted and reported
    const family = kexFamily(this.sides.up.kexInit, this.sides.down.kexInit);
    const role = senderRole(code, family, firstOfFlow);
    // The remote side acting as client, or the local side acting as server, is the same inversion.
    const inverted = (direction === 'down' && role === 'client') || (direction === 'up' && role === 'server');
    if (!inverted) return undefined;
    this.sshClientSide = 'down';
    return {
      type: 'reverse_tunnel',
      confidence: 'high',
      evidence: this.inversionEvidence(code, direction, role),
      direction,
      atMs,
    };
  }

  private inversionEvidence(code: number, direction: Direction, role: SshRole): string {
    const sender = `${direction === 'down' ? 'remote' : 'local'} side sent ${role}`;
    const localBanner = this.sides.up.line?.banner;
    const banner = localBanner === undefined ? '' : ` (local identification "${localBanner.slice(0, 80)}")`;
    return `${sender} key-exchange message ${code}: the local side is acting as SSH server over an outbound connection${banner}`;
  }
}

function toDetection(finding: BehaviourFinding): Detection {
  return { type: 'reverse_tunnel', confidence: finding.confidence, evidence: finding.evidence, direction: finding.direction, atMs: finding.atMs };
}

function opposite(direction: Direction): Direction {
  return direction === 'up' ? 'down' : 'up';
}
