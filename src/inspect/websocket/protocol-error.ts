/**
 * Violations of RFC 6455 / RFC 7692 framing, reported as values. An endpoint that sees one of these must
 * fail the connection (RFC 6455 §7.1.7), so a flow that carries one is either broken or not really a
 * WebSocket peer; the inspector stops decoding it either way.
 */
export type ProtocolErrorCode =
  /** A client-to-server frame without the MASK bit (RFC 6455 §5.1). */
  | 'unmasked-client-frame'
  /** A server-to-client frame with the MASK bit (RFC 6455 §5.1). */
  | 'masked-server-frame'
  /** Opcodes 0x3–0x7 and 0xB–0xF are reserved (RFC 6455 §5.2). */
  | 'reserved-opcode'
  /** RSV2/RSV3 set, or RSV1 without permessage-deflate or where RFC 7692 §6.1 forbids it. */
  | 'reserved-bits'
  /** Control frames carry at most 125 bytes (RFC 6455 §5.5). */
  | 'control-frame-too-long'
  /** Control frames must have FIN set (RFC 6455 §5.5). */
  | 'fragmented-control-frame'
  /** The most significant bit of a 64-bit length must be 0 (RFC 6455 §5.2). */
  | 'length-msb-set'
  /** A declared frame length above the inspector's cap. */
  | 'frame-too-long'
  /** A continuation frame with no fragmented message in progress (RFC 6455 §5.4). */
  | 'unexpected-continuation'
  /** A new text/binary frame while a fragmented message still awaits its continuation (RFC 6455 §5.4). */
  | 'expected-continuation';

export interface ProtocolError {
  code: ProtocolErrorCode;
  /** Short human-readable explanation, safe for an event's evidence. */
  detail: string;
}
