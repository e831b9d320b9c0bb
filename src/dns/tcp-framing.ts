/**
 * DNS over TCP: every message is preceded by its length as two bytes (RFC 1035 §4.2.2, RFC 7766). A
 * client may pipeline several queries in one segment, or split one across segments.
 */
import type { Socket } from 'node:net';

export function frame(message: Buffer): Buffer {
  const length = Buffer.alloc(2);
  length.writeUInt16BE(message.length, 0);
  return Buffer.concat([length, message]);
}

/**
 * Calls `onMessage` for every complete message read from `socket`, in order. Buffered bytes are bounded
 * by one message (at most 65,535 bytes plus what arrived with it).
 */
export function readFrames(socket: Socket, maxMessageBytes: number, onMessage: (message: Buffer) => void): void {
  let pending: Buffer = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    while (pending.length >= 2) {
      const length = pending.readUInt16BE(0);
      if (length > maxMessageBytes) {
        socket.destroy();
        return;
      }
      if (pending.length < 2 + length) break;
      const message = pending.subarray(2, 2 + length);
      pending = pending.subarray(2 + length);
      onMessage(message);
      if (socket.destroyed) return;
    }
  });
}
