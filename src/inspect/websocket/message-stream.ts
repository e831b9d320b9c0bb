/**
 * One direction of a WebSocket connection, from raw bytes to decoded messages:
 * frames (frame-parser) → messages (message-assembler) → inflated payloads (deflate).
 */
import type { Direction } from '../types.js';
import { MessageInflater, type DeflateDirectionParams } from './deflate.js';
import { FrameParser } from './frame-parser.js';
import { MessageAssembler, type AssembledMessage } from './message-assembler.js';
import type { ProtocolError } from './protocol-error.js';

export interface WebSocketLimits {
  /**
   * Bytes of each message kept for inspection, both as received (per frame and per message) and after
   * inflation. Longer messages are inspected on their first bytes and reported truncated.
   */
  maxMessageBytes: number;
  /** Most bytes one compressed message may inflate to before it is given up on (zip bombs). */
  maxInflatedBytes: number;
  /** Declared frame lengths above this are a protocol error. */
  maxFrameLength: number;
}

export const DEFAULT_WEBSOCKET_LIMITS: WebSocketLimits = {
  maxMessageBytes: 64 * 1024,
  maxInflatedBytes: 1024 * 1024,
  maxFrameLength: 1024 * 1024 * 1024,
};

export type MessageStreamEvent =
  | {
      kind: 'message';
      isText: boolean;
      /** Decoded payload, at most `maxMessageBytes`. */
      payload: Buffer;
      truncated: boolean;
      /** Inflated with a lost window: bytes copied from it are zeros (see MessageInflater). */
      approximate: boolean;
    }
  | { kind: 'undecodable'; isText: boolean; reason: 'inflate-too-large' | 'inflate-corrupt' }
  | { kind: 'error'; error: ProtocolError };

export class WebSocketMessageStream {
  private readonly parser: FrameParser;
  private readonly assembler: MessageAssembler;
  private readonly inflater: MessageInflater | undefined;
  private failure: ProtocolError | undefined;
  private frameSeen = false;

  /** `deflate` is this direction's permessage-deflate parameters, undefined when not negotiated. */
  constructor(
    direction: Direction,
    deflate: DeflateDirectionParams | undefined,
    private readonly limits: WebSocketLimits,
  ) {
    this.parser = new FrameParser({
      direction,
      allowCompression: deflate !== undefined,
      maxFrameLength: limits.maxFrameLength,
      maxRetainedPayload: limits.maxMessageBytes,
    });
    this.assembler = new MessageAssembler(limits.maxMessageBytes);
    this.inflater = deflate === undefined ? undefined : new MessageInflater(deflate, limits.maxInflatedBytes);
  }

  /** At least one well-formed, well-sequenced frame has been decoded. */
  get sawFrame(): boolean {
    return this.frameSeen;
  }

  get error(): ProtocolError | undefined {
    return this.failure;
  }

  /** Bytes held between pushes: partial frame, partial message and the deflate window. */
  get bufferedBytes(): number {
    return this.parser.bufferedBytes + this.assembler.bufferedBytes + (this.inflater?.bufferedBytes ?? 0);
  }

  push(chunk: Buffer): MessageStreamEvent[] {
    if (this.failure !== undefined) return [];
    const events: MessageStreamEvent[] = [];
    const parsed = this.parser.push(chunk);
    for (const frame of parsed.frames) {
      const output = this.assembler.accept(frame);
      if (output?.kind === 'error') return this.fail(events, output.error);
      this.frameSeen = true;
      if (output?.kind === 'message') events.push(this.decode(output));
      // Control frames carry no application data worth inspecting.
    }
    return parsed.error === undefined ? events : this.fail(events, parsed.error);
  }

  private decode(message: AssembledMessage): MessageStreamEvent {
    const { isText, truncated } = message;
    if (!message.compressed || this.inflater === undefined) {
      return { kind: 'message', isText, payload: message.payload, truncated, approximate: false };
    }
    const inflated = this.inflater.inflate(message.payload, !truncated);
    if (!inflated.ok) {
      const reason = inflated.reason === 'too-large' ? 'inflate-too-large' : 'inflate-corrupt';
      return { kind: 'undecodable', isText, reason };
    }
    const { maxMessageBytes } = this.limits;
    const tooLong = inflated.data.length > maxMessageBytes;
    return {
      kind: 'message',
      isText,
      // A copy, so the up-to-maxInflatedBytes buffer is not kept alive by a slice of it.
      payload: tooLong ? Buffer.from(inflated.data.subarray(0, maxMessageBytes)) : inflated.data,
      truncated: truncated || tooLong,
      approximate: inflated.approximate,
    };
  }

  private fail(events: MessageStreamEvent[], error: ProtocolError): MessageStreamEvent[] {
    this.failure = error;
    events.push({ kind: 'error', error });
    return events;
  }
}
