/**
 * Turns the encrypted bytes of one direction into *units* (protocol notes §2.6 step 3): exact SSH packets
 * where the length field travels in clear (AES-GCM: 4 + length + 16; `-etm` MACs: 4 + length + MAC),
 * otherwise each read as it came (chacha20-poly1305 encrypts the length; CTR/CBC with a classic MAC
 * encrypts it inside the first block).
 *
 * No buffering: the framer only counts bytes, so it costs O(bytes) and no allocation per chunk.
 */
import type { PacketGeometry } from './packet-sizes.js';

/** OpenSSH refuses packets above 256 KiB (PACKET_MAX_SIZE); a larger length means framing was lost. */
const MAX_PACKET_LENGTH = 256 * 1024;

export type UnitSink = (size: number, atMs: number) => void;

export class UnitFramer {
  /** Exact framing is on while the lengths are readable; a length out of range turns it off for good. */
  private exact: boolean;
  private lengthBytesRead = 0;
  private length = 0;
  /** Bytes of the current packet still to skip after its length field. */
  private remaining = 0;

  constructor(private readonly geometry: PacketGeometry, private readonly emit: UnitSink) {
    this.exact = geometry.lengthInClear;
  }

  /** True while units are exact packets (false: units are reads). */
  get framesPackets(): boolean {
    return this.exact;
  }

  push(chunk: Buffer, atMs: number): void {
    if (!this.exact) {
      if (chunk.length > 0) this.emit(chunk.length, atMs);
      return;
    }
    let offset = 0;
    while (offset < chunk.length) {
      if (this.remaining > 0) {
        const skipped = Math.min(this.remaining, chunk.length - offset);
        this.remaining -= skipped;
        offset += skipped;
        if (this.remaining === 0) this.emit(4 + this.length + this.geometry.tagBytes, atMs);
        continue;
      }
      if (this.lengthBytesRead === 0) this.length = 0;
      this.length = this.length * 256 + (chunk[offset] ?? 0);
      this.lengthBytesRead += 1;
      offset += 1;
      if (this.lengthBytesRead < 4) continue;
      this.lengthBytesRead = 0;
      if (this.length < 5 || this.length > MAX_PACKET_LENGTH) {
        // Not a packet boundary after all (or a peer padding beyond the rules): fall back to reads.
        this.exact = false;
        if (chunk.length - offset > 0) this.emit(chunk.length - offset, atMs);
        return;
      }
      this.remaining = this.length + this.geometry.tagBytes;
    }
  }
}
