/**
 * Load client: opens `count` tunnels to the echo server, `inFlight` at a time, each doing CONNECT + 200 +
 * one echo round trip + close, and reports how many completed per second. With inFlight = 1 this is the
 * sequential setup latency seen from one agent; with 50 it is a busy gateway.
 */
import { tunnelSetupArgsSchema, type TunnelSetupArgs, type TunnelSetupResult } from '../protocol.js';
import { errorText, runClientMain } from './child-main.js';
import { echoRoundTrip } from './echo-round-trip.js';
import { openStream } from './open-stream.js';

async function oneTunnel(args: TunnelSetupArgs): Promise<void> {
  const socket = await openStream(args.route, args.echo, args.perTunnelTimeoutMs);
  socket.on('error', () => undefined); // a reset after we are done is not a failed tunnel
  try {
    await echoRoundTrip(socket, args.perTunnelTimeoutMs);
  } finally {
    socket.destroy();
  }
}

async function setupTunnels(args: TunnelSetupArgs): Promise<TunnelSetupResult> {
  let started = 0;
  let completed = 0;
  let failed = 0;
  let firstError: string | null = null;
  const worker = async (): Promise<void> => {
    while (started < args.count) {
      started += 1;
      try {
        await oneTunnel(args);
        completed += 1;
      } catch (error) {
        failed += 1;
        firstError ??= errorText(error);
      }
    }
  };
  const begin = performance.now();
  await Promise.all(Array.from({ length: Math.min(args.inFlight, args.count) }, worker));
  const seconds = (performance.now() - begin) / 1000;
  return { completed, failed, seconds, firstError };
}

runClientMain(tunnelSetupArgsSchema, setupTunnels);
