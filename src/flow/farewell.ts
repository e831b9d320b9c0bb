import type net from 'node:net';

/** How long an agent may take to read a refusal before its socket is destroyed. */
const FAREWELL_LINGER_MS = 3_000;

/**
 * Sends `answer` (a refusal in the agent's protocol), half-closes, then keeps reading and dropping what
 * the agent still sends until it closes or FAREWELL_LINGER_MS pass. A client that writes before it
 * reads (ssh sends its key exchange right after our identification line) would otherwise meet a reset
 * and never see the reason.
 */
export function endWithFarewell(socket: net.Socket, answer: Buffer): void {
  const linger = setTimeout(() => socket.destroy(), FAREWELL_LINGER_MS);
  linger.unref();
  socket.once('close', () => clearTimeout(linger));
  socket.on('data', discard);
  socket.resume();
  socket.end(answer);
}

function discard(): void {}
