/**
 * Load client: opens `count` tunnels to the echo server (CONNECT + 200 + one echo round trip, so the
 * proxy's upstream leg is surely up), prints a "ready" line, then holds them idle until its stdin closes —
 * the runner reads the proxy's RSS in between — and finally closes them all.
 */
import type { Socket } from 'node:net';
import { idleTunnelsArgsSchema, type IdleTunnelsArgs, type IdleTunnelsDone } from '../protocol.js';
import { errorText, printLine, runClientMain } from './child-main.js';
import { echoRoundTrip } from './echo-round-trip.js';
import { openStream } from './open-stream.js';

async function openIdleTunnel(args: IdleTunnelsArgs): Promise<Socket> {
  const socket = await openStream(args.route, args.echo, args.perTunnelTimeoutMs);
  socket.on('error', () => undefined); // counted at close time if the proxy dropped it; never fatal here
  await echoRoundTrip(socket, args.perTunnelTimeoutMs).catch((error: unknown) => {
    socket.destroy();
    throw error;
  });
  return socket;
}

function stdinClosed(): Promise<void> {
  return new Promise((resolve) => {
    process.stdin.once('end', resolve).once('close', resolve).resume();
  });
}

async function holdIdleTunnels(args: IdleTunnelsArgs): Promise<IdleTunnelsDone> {
  const open: Socket[] = [];
  let closing = false;
  let droppedWhileIdle = 0;
  let started = 0;
  let failed = 0;
  let firstError: string | null = null;
  const worker = async (): Promise<void> => {
    while (started < args.count) {
      started += 1;
      try {
        const socket = await openIdleTunnel(args);
        // Keep reading so a tunnel the proxy closes while idle is noticed (and counted) rather than missed.
        socket.once('close', () => {
          if (!closing) droppedWhileIdle += 1;
        });
        socket.resume();
        open.push(socket);
      } catch (error) {
        failed += 1;
        firstError ??= errorText(error);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(args.inFlight, args.count) }, worker));
  printLine({ opened: open.length, failed, firstError });
  await stdinClosed();
  closing = true;
  for (const socket of open) socket.destroy();
  return { closed: open.length, droppedWhileIdle };
}

runClientMain(idleTunnelsArgsSchema, holdIdleTunnels);
