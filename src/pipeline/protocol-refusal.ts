import type { ProtocolName } from '../inspect/types.js';

/**
 * A refusal in the language the agent's client speaks, so that the tool the agent ran prints the
 * reason instead of "connection reset": an SSH disconnect message for `ssh`, an HTTP 403 for HTTP
 * clients, a TLS access_denied alert for TLS clients. Anything else just gets the connection closed.
 */
export function refusalBytes(protocol: ProtocolName, reason: string, body: Record<string, string>): Buffer | undefined {
  switch (protocol) {
    case 'ssh':
      return sshDisconnect(reason);
    case 'http':
    case 'websocket':
      return httpAnswer(403, 'Forbidden', reason, body);
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
