/** The interleaved measurements (1–3) as a list the runner can loop over, at warm-up or full size. */
import type { HttpLoadTool } from './measure/http-load-tool.js';
import type { Sample } from './measure/sample.js';
import { measureTunnelSetupRate } from './measure/tunnel-setup.js';
import { measureTunnelThroughput } from './measure/tunnel-throughput.js';
import type { BenchSettings } from './options.js';
import type { UpstreamEndpoints } from './protocol.js';
import type { MetricId } from './results.js';
import type { RunningTarget } from './targets/types.js';

export interface Workload {
  metric: MetricId;
  run(target: RunningTarget): Promise<Sample>;
}

/** Small enough to take a few seconds for all targets, big enough for V8 to optimise the hot paths. */
const WARM_UP = {
  throughputBytes: 32 * 1024 * 1024,
  setupSequential: { count: 50, inFlight: 1 },
  setupParallel: { count: 200, inFlight: 50 },
  http: { connections: 50, durationS: 1 },
};

export function workloads(
  size: 'warm-up' | 'measure',
  settings: BenchSettings,
  upstream: UpstreamEndpoints,
  http: HttpLoadTool,
): Workload[] {
  const load = size === 'warm-up' ? WARM_UP : settings;
  return [
    {
      metric: 'tunnelThroughput',
      run: (target) => measureTunnelThroughput(target.route, upstream.sink, load.throughputBytes),
    },
    {
      metric: 'tunnelSetupSequential',
      run: (target) => measureTunnelSetupRate(target.route, upstream.echo, load.setupSequential),
    },
    {
      metric: 'tunnelSetupParallel',
      run: (target) => measureTunnelSetupRate(target.route, upstream.echo, load.setupParallel),
    },
    {
      metric: 'httpRequests',
      run: (target) => http.measure(target.route, upstream.httpOrigin, load.http),
    },
  ];
}
