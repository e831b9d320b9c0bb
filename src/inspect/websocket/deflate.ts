/**
 * permessage-deflate (RFC 7692) decompression for one direction, synchronous and bounded.
 *
 * A compressed message is raw DEFLATE whose trailing `00 00 ff ff` (the empty stored block of a sync
 * flush) was removed by the sender; the receiver appends it back and inflates (§7.2.2). With context
 * takeover the sender's LZ77 window carries over between messages, so a message may refer to bytes of
 * earlier ones. Node's streaming inflater is asynchronous, so instead of keeping one alive we keep that
 * window ourselves: the last 2^max_window_bits bytes this direction decompressed, passed as the preset
 * dictionary of a one-shot `inflateRawSync`. A raw inflater primed with a dictionary resolves back
 * references exactly as if it had produced those bytes itself.
 */
import zlib from 'node:zlib';

export interface DeflateDirectionParams {
  /** `<sender>_no_context_takeover` was negotiated: every message is compressed on its own. */
  noContextTakeover: boolean;
  /** `<sender>_max_window_bits` (8–15): how far back the sender's compressor may refer. */
  maxWindowBits: number;
}

export type InflateOutcome =
  | {
      ok: true;
      data: Buffer;
      /**
       * The window was lost earlier (a message too large, corrupt or truncated), so bytes this message
       * copied from it came out as zeros. Literal text is still exact.
       */
      approximate: boolean;
    }
  | { ok: false; reason: 'too-large' | 'corrupt' };

const SYNC_FLUSH_TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);
const EMPTY = Buffer.alloc(0);

export class MessageInflater {
  private window: Buffer = EMPTY;
  private contextLost = false;

  /** `maxOutputBytes` bounds what one message may inflate to (zip bombs). */
  constructor(
    private readonly params: DeflateDirectionParams,
    private readonly maxOutputBytes: number,
  ) {}

  /** Bytes kept between messages: the sender's window. */
  get bufferedBytes(): number {
    return this.window.length;
  }

  /**
   * Inflates one message. `complete` is false when only a prefix of the compressed bytes was kept (the
   * inspection cap): that prefix is inflated as far as it goes, and the window is lost afterwards.
   */
  inflate(compressed: Buffer, complete: boolean): InflateOutcome {
    const approximate = this.contextLost;
    let data: Buffer;
    try {
      data = zlib.inflateRawSync(complete ? Buffer.concat([compressed, SYNC_FLUSH_TAIL]) : compressed, {
        // Z_SYNC_FLUSH: a message ends with a flushed block, not the end of the DEFLATE stream.
        finishFlush: zlib.constants.Z_SYNC_FLUSH,
        maxOutputLength: this.maxOutputBytes,
        ...(this.window.length > 0 ? { dictionary: this.window } : {}),
      });
    } catch (failure) {
      this.loseContext();
      return { ok: false, reason: isBufferTooLarge(failure) ? 'too-large' : 'corrupt' };
    }
    if (complete) this.remember(data);
    else this.loseContext();
    return { ok: true, data, approximate };
  }

  private remember(output: Buffer): void {
    if (this.params.noContextTakeover) return;
    const size = this.windowSize();
    if (output.length >= size) {
      this.window = Buffer.from(output.subarray(output.length - size));
      return;
    }
    const keepFromOld = Math.min(this.window.length, size - output.length);
    this.window = Buffer.concat([this.window.subarray(this.window.length - keepFromOld), output]);
  }

  /**
   * The sender's window is now unknown. A zero-filled window of the right size keeps later messages
   * decodable (an evasion should not be able to blind the inspector by sending one oversized message):
   * references into the lost bytes yield zeros instead of failing the whole message.
   */
  private loseContext(): void {
    if (this.params.noContextTakeover) return;
    this.window = Buffer.alloc(this.windowSize());
    this.contextLost = true;
  }

  private windowSize(): number {
    return 2 ** this.params.maxWindowBits;
  }
}

function isBufferTooLarge(failure: unknown): boolean {
  return failure instanceof Error && 'code' in failure && failure.code === 'ERR_BUFFER_TOO_LARGE';
}
