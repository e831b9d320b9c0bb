/**
 * Throughput sink: reads an 8-byte big-endian length, swallows that many bytes, then answers one byte so
 * the sender can stop its clock (see load/throughput-client.ts). Bytes after the payload are ignored.
 */
import net from 'node:net';

const HEADER_BYTES = 8;
const ACK = Buffer.from([1]);

export function createSinkServer(): net.Server {
  return net.createServer((socket) => {
    socket.on('error', () => undefined); // the client destroys the stream once acknowledged
    let header = Buffer.alloc(0);
    let remaining: number | null = null; // payload bytes still to come; null until the header is complete
    let acknowledged = false;
    socket.on('data', (chunk: Buffer) => {
      if (acknowledged) return;
      let payloadBytes = chunk.length;
      if (remaining === null) {
        header = Buffer.concat([header, chunk]);
        if (header.length < HEADER_BYTES) return;
        remaining = Number(header.readBigUInt64BE(0));
        payloadBytes = header.length - HEADER_BYTES;
      }
      remaining -= payloadBytes;
      if (remaining <= 0) {
        acknowledged = true;
        socket.write(ACK);
      }
    });
  });
}
