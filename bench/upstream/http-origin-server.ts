/**
 * HTTP origin for the requests/s measurement: answers every request with the same small 200 response.
 *
 * It is a raw TCP server rather than node:http on purpose: the origin shares two cores with the proxy and
 * the load generator, and node:http would make the origin the bottleneck of the "direct" figure, squeezing
 * every ratio towards 1. It only understands what the bench sends — body-less GETs, possibly pipelined —
 * so it counts request heads by their terminating blank line and answers each one.
 */
import net from 'node:net';

const BODY = 'hello from the bench origin\n';
const RESPONSE = Buffer.from(
  `HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(BODY)}\r\n` +
    `Connection: keep-alive\r\n\r\n${BODY}`,
);
const HEAD_END = Buffer.from('\r\n\r\n');
/** An unfinished head longer than this is not something the bench sent: drop the connection. */
const MAX_PENDING_HEAD = 64 * 1024;

/** How many request heads end in `data`; returns the unfinished tail to prepend to the next chunk. */
function countHeads(data: Buffer): { heads: number; rest: Buffer } {
  let heads = 0;
  let from = 0;
  for (let end = data.indexOf(HEAD_END, from); end >= 0; end = data.indexOf(HEAD_END, from)) {
    heads += 1;
    from = end + HEAD_END.length;
  }
  return { heads, rest: data.subarray(from) };
}

export function createHttpOriginServer(): net.Server {
  return net.createServer((socket) => {
    socket.setNoDelay(true);
    socket.on('error', () => undefined);
    let pending = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      const { heads, rest } = countHeads(pending.length === 0 ? chunk : Buffer.concat([pending, chunk]));
      // A copy, so the tail does not pin a whole socket read buffer.
      pending = Buffer.from(rest);
      if (pending.length > MAX_PENDING_HEAD) socket.destroy();
      if (heads === 1) socket.write(RESPONSE);
      else if (heads > 1) socket.write(Buffer.concat(Array.from({ length: heads }, () => RESPONSE)));
    });
  });
}
