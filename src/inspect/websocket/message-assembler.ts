/**
 * Reassembles WebSocket messages from frames (RFC 6455 §5.4): a text or binary frame starts a message,
 * continuation frames extend it until FIN, and control frames may arrive between the fragments.
 *
 * Inspection is bounded: only the first `maxMessageBytes` bytes of a message are kept; the rest is counted
 * and the message is reported truncated.
 */
import { Opcode, type WebSocketFrame } from './frame-parser.js';
import type { ProtocolError } from './protocol-error.js';

export interface AssembledMessage {
  kind: 'message';
  isText: boolean;
  /** RSV1 was set on the first frame: the payload is permessage-deflate data still to inflate. */
  compressed: boolean;
  /** The message bytes as sent (unmasked, not inflated), or their first `maxMessageBytes`. */
  payload: Buffer;
  /** Total bytes the frames declared. */
  length: number;
  truncated: boolean;
}

export interface ControlMessage {
  kind: 'control';
  opcode: 'close' | 'ping' | 'pong';
  payload: Buffer;
}

export interface AssemblyFailure {
  kind: 'error';
  error: ProtocolError;
}

export type AssemblerOutput = AssembledMessage | ControlMessage | AssemblyFailure;

/** The data message whose fragments are arriving. */
interface PartialMessage {
  isText: boolean;
  compressed: boolean;
  fragments: Buffer[];
  kept: number;
  length: number;
  truncated: boolean;
}

export class MessageAssembler {
  private partial: PartialMessage | undefined;

  constructor(private readonly maxMessageBytes: number) {}

  /** Payload bytes held for the message in progress. */
  get bufferedBytes(): number {
    return this.partial?.kept ?? 0;
  }

  /** Takes the next frame; returns what it completed, if anything. */
  accept(frame: WebSocketFrame): AssemblerOutput | undefined {
    switch (frame.opcode) {
      case Opcode.close:
        return { kind: 'control', opcode: 'close', payload: frame.payload };
      case Opcode.ping:
        return { kind: 'control', opcode: 'ping', payload: frame.payload };
      case Opcode.pong:
        return { kind: 'control', opcode: 'pong', payload: frame.payload };
      case Opcode.continuation:
        return this.continueMessage(frame);
      default:
        return this.startMessage(frame);
    }
  }

  private startMessage(frame: WebSocketFrame): AssemblerOutput | undefined {
    if (this.partial !== undefined) {
      return failure('expected-continuation', 'a new data frame arrived before the fragmented message ended');
    }
    this.partial = {
      isText: frame.opcode === Opcode.text,
      compressed: frame.rsv1,
      fragments: [],
      kept: 0,
      length: 0,
      truncated: false,
    };
    return this.append(this.partial, frame);
  }

  private continueMessage(frame: WebSocketFrame): AssemblerOutput | undefined {
    if (this.partial === undefined) {
      return failure('unexpected-continuation', 'a continuation frame arrived with no message in progress');
    }
    return this.append(this.partial, frame);
  }

  private append(partial: PartialMessage, frame: WebSocketFrame): AssemblerOutput | undefined {
    const room = this.maxMessageBytes - partial.kept;
    const kept = frame.payload.length <= room ? frame.payload : Buffer.from(frame.payload.subarray(0, room));
    if (kept.length > 0) partial.fragments.push(kept);
    partial.kept += kept.length;
    partial.length += frame.length;
    partial.truncated ||= frame.truncated || kept.length < frame.payload.length;
    if (!frame.fin) return undefined;

    this.partial = undefined;
    return {
      kind: 'message',
      isText: partial.isText,
      compressed: partial.compressed,
      payload: joinFragments(partial.fragments),
      length: partial.length,
      truncated: partial.truncated,
    };
  }
}

function failure(code: ProtocolError['code'], detail: string): AssemblyFailure {
  return { kind: 'error', error: { code, detail } };
}

/** Single-frame messages, the common case, are passed on without a copy. */
function joinFragments(fragments: Buffer[]): Buffer {
  const [only] = fragments;
  return fragments.length === 1 && only !== undefined ? only : Buffer.concat(fragments);
}
