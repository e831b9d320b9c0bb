/**
 * Measurement 2: tunnel setup rate — CONNECT, 200, one small echo round trip, close — in tunnels/s, either
 * one at a time or with many in flight.
 */
import { runLoadClient } from '../proc/load-process.js';
import { tunnelSetupResultSchema, type Endpoint, type Route, type TunnelSetupArgs } from '../protocol.js';
import { rateSample, type Sample } from './sample.js';

const PER_TUNNEL_TIMEOUT_MS = 5_000;
/** Whole-run bound: a proxy slower than 20 tunnels/s is reported as a failure rather than waited for. */
const SLOWEST_RATE_PER_S = 20;

export async function measureTunnelSetupRate(
  route: Route,
  echo: Endpoint,
  load: { count: number; inFlight: number },
): Promise<Sample> {
  const args: TunnelSetupArgs = { route, echo, ...load, perTunnelTimeoutMs: PER_TUNNEL_TIMEOUT_MS };
  const timeoutMs = 10_000 + (load.count / SLOWEST_RATE_PER_S) * 1000;
  const result = await runLoadClient('tunnel-setup-client', args, tunnelSetupResultSchema, timeoutMs);
  return rateSample(result.completed, result.failed, result.seconds, 'tunnels', result.firstError);
}
