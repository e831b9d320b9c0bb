/** Measurement 1: bulk throughput through one CONNECT tunnel (client → server), in MB/s (10^6 bytes). */
import { runLoadClient } from '../proc/load-process.js';
import { throughputResultSchema, type Endpoint, type Route, type ThroughputArgs } from '../protocol.js';
import type { Sample } from './sample.js';

/** Even a slow proxy moves 256 MiB in well under this on loopback; beyond it something is wedged. */
const TIMEOUT_MS = 60_000;

export async function measureTunnelThroughput(route: Route, sink: Endpoint, bytes: number): Promise<Sample> {
  const args: ThroughputArgs = { route, sink, bytes, timeoutMs: TIMEOUT_MS };
  const result = await runLoadClient('throughput-client', args, throughputResultSchema, TIMEOUT_MS + 5_000);
  return { value: result.bytes / 1e6 / result.seconds };
}
