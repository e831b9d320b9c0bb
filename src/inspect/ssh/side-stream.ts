/**
 * One direction of an SSH connection, parsed up to its NEWKEYS: the identification line, then cleartext
 * binary packets, keeping the first KEXINIT and the key-exchange message numbers. After NEWKEYS the
 * direction is encrypted and only its byte count moves.
 */
import { CleartextPacketReader, type PayloadVerdict } from './binary-packet.js';
import { IdentificationReader, type IdentificationLine } from './identification.js';
import { isKexMethodMessage, parseKexInit, SSH_MSG_KEXINIT, SSH_MSG_NEWKEYS, type KexInit } from './kexinit.js';

/** Key-exchange message numbers remembered per direction; a normal exchange sends one to three. */
export const MAX_RECORDED_KEX_MESSAGES = 16;

export type SideEvent =
  | { type: 'banner'; line: IdentificationLine }
  | { type: 'not-ssh'; reason: string }
  | { type: 'kex-message'; code: number };

export class SshSideStream {
  private readonly identification: IdentificationReader;
  private readonly packets = new CleartextPacketReader();
  private bytesSeen = 0;
  private identificationLine: IdentificationLine | undefined;
  private firstKexInit: KexInit | undefined;
  private encryptionStart: number | undefined;
  private notSshReason: string | undefined;
  private readonly kexMessageCodes: number[] = [];

  /** @param allowPreBanner whether this side may send text lines before its identification (a server). */
  constructor(allowPreBanner: boolean) {
    this.identification = new IdentificationReader(allowPreBanner);
  }

  get line(): IdentificationLine | undefined {
    return this.identificationLine;
  }

  get kexInit(): KexInit | undefined {
    return this.firstKexInit;
  }

  /** Why this side is not SSH, once decided. */
  get notSsh(): string | undefined {
    return this.notSshReason;
  }

  /** Offset in this direction's byte stream where encrypted packets start (just after NEWKEYS). */
  get encryptedFrom(): number | undefined {
    return this.encryptionStart;
  }

  get kexMessages(): readonly number[] {
    return this.kexMessageCodes;
  }

  push(chunk: Buffer): SideEvent[] {
    const chunkStart = this.bytesSeen;
    this.bytesSeen += chunk.length;
    if (this.notSshReason !== undefined || this.encryptionStart !== undefined) return [];
    const events: SideEvent[] = [];
    let packetBytes = chunk;
    if (!this.identificationLine) {
      const step = this.identification.push(chunk);
      if (step.status === 'need-more') return events;
      if (step.status === 'not-ssh') {
        this.notSshReason = step.reason;
        return [{ type: 'not-ssh', reason: step.reason }];
      }
      this.identificationLine = step.line;
      events.push({ type: 'banner', line: step.line });
      packetBytes = step.rest;
    }
    const packetsStart = chunkStart + chunk.length - packetBytes.length;
    const consumed = this.packets.push(packetBytes, (payload) => this.onPayload(payload, events));
    if (this.packets.status.state === 'stopped') this.encryptionStart = packetsStart + consumed;
    return events;
  }

  private onPayload(payload: Buffer, events: SideEvent[]): PayloadVerdict {
    const code = payload[0] ?? 0;
    if (code === SSH_MSG_NEWKEYS) return 'stop';
    if (code === SSH_MSG_KEXINIT && !this.firstKexInit) {
      const parsed = parseKexInit(payload);
      if (parsed.ok) this.firstKexInit = parsed.kexInit;
    } else if (isKexMethodMessage(code)) {
      if (this.kexMessageCodes.length < MAX_RECORDED_KEX_MESSAGES) this.kexMessageCodes.push(code);
      events.push({ type: 'kex-message', code });
    }
    return 'continue';
  }
}
