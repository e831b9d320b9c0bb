import type { ProtocolName } from '../inspect/types.js';

/**
 * A refusal in the language the agent's client speaks, so that the tool the agent ran prints the
 * reason instead of "connection reset": an SSH disconnect message for `ssh`, an HTTP 403 for HTTP
 * clients, a WebSocket close frame once the connection was upgraded, a TLS access_denied alert for
 * TLS clients. Anything else just gets the connection closed.
 */
export function refusalBytes(protocol: ProtocolName, reason: string, body: Record<string, string>): Buffer | undefined {
  switch (protocol) {
    case 'ssh':
      return sshDisconnect(reason);
    case 'http':
      return httpAnswer(403, 'Forbidden', reason, body);
    case 'websocket':
      // Named only after the server's 101: the client now reads frames, and an HTTP answer would be
      // a framing error to it.
      return webSocketClose(reason);
    case 'tls':
      // Alert record: fatal (2), access_denied (49). Sent in cleartext before any handshake reply.
      return Buffer.from([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x31]);
    default:
      return undefined;
  }
}

const SSH_MSG_DISCONNECT = 1;
/** RFC 4253 §11.1: SSH_DISCONNECT_HOST_NOT_ALLOWED_TO_CONNECT. */
const HOST_NOT_ALLOWED = 1;

/** Our identification line, then a cleartext SSH_MSG_DISCONNECT: `ssh` prints its description. */
export function sshDisconnect(reason: string): Buffer {
  const description = Buffer.from(`chokepoint: ${reason}`.slice(0, 1000), 'utf8');
  const payload = Buffer.alloc(1 + 4 + 4 + description.length + 4);
  let offset = payload.writeUInt8(SSH_MSG_DISCONNECT, 0);
  offset = payload.writeUInt32BE(HOST_NOT_ALLOWED, offset);
  offset = payload.writeUInt32BE(description.length, offset);
  offset += description.copy(payload, offset);
  payload.writeUInt32BE(0, offset); // empty language tag
  // packet_length (4) + padding_length (1) + payload + padding must be a multiple of 8, padding >= 4.
  let padding = 8 - ((5 + payload.length) % 8);
  if (padding < 4) padding += 8;
  const packet = Buffer.alloc(4 + 1 + payload.length + padding);
  packet.writeUInt32BE(1 + payload.length + padding, 0);
  packet.writeUInt8(padding, 4);
  payload.copy(packet, 5);
  return Buffer.concat([Buffer.from('SSH-2.0-Chokepoint\r\n', 'latin1'), packet]);
}

/** RFC 6455 §7.4.1: 1008, the endpoint received a message that violates its policy. */
const POLICY_VIOLATION = 1008;
/** A control frame carries at most 125 bytes: the 2-byte status code and up to 123 of reason. */
const MAX_CLOSE_REASON_BYTES = 123;

/** A server-to-client (so unmasked) close frame with status 1008 and the reason, cut to fit. */
export function webSocketClose(reason: string): Buffer {
  let text = Buffer.from(`chokepoint: ${reason}`, 'utf8');
  if (text.length > MAX_CLOSE_REASON_BYTES) {
    // Cut on a character boundary: the reason must stay valid UTF-8 or the client fails the connection.
    let end = MAX_CLOSE_REASON_BYTES;
    while (end > 0 && ((text[end] ?? 0) & 0xc0) === 0x80) end -= 1;
    text = text.subarray(0, end);
  }
  const frame = Buffer.alloc(4 + text.length);
  frame.writeUInt8(0x88, 0); // FIN + opcode 8 (close)
  frame.writeUInt8(2 + text.length, 1);
  frame.writeUInt16BE(POLICY_VIOLATION, 2);
  text.copy(frame, 4);
  return frame;
}

/** The upstream could not be reached after the tunnel was acknowledged: say so in the agent's protocol. */
export function unreachableBytes(protocol: ProtocolName, reason: string, body: Record<string, string>): Buffer | undefined {
  if (protocol === 'http' || protocol === 'websocket') return httpAnswer(502, 'Bad Gateway', reason, body);
  if (protocol === 'ssh') return sshDisconnect(reason);
  return undefined;
}

function httpAnswer(status: number, text: string, reason: string, body: Record<string, string>): Buffer {
  const json = `${JSON.stringify(body)}\n`;
  const safeReason = reason.replace(/[^\x20-\x7e]/g, '?').slice(0, 512);
  return Buffer.from(
    `HTTP/1.1 ${status} ${text}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(json)}\r\n` +
      `chokepoint-reason: ${safeReason}\r\nconnection: close\r\n\r\n${json}`,
    'utf8',
  );
}
