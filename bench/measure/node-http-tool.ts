/** The fallback HTTP load generator when wrk cannot be installed: load/http-keepalive-client.ts. */
import { runLoadClient } from '../proc/load-process.js';
import { httpClientResultSchema, type HttpClientArgs } from '../protocol.js';
import type { HttpLoadTool } from './http-load-tool.js';
import { rateSample } from './sample.js';

export const nodeHttpTool: HttpLoadTool = {
  description: 'Node keep-alive client in its own process (wrk unavailable; absolute figures lower than with wrk)',
  measure: async (route, origin, load) => {
    const args: HttpClientArgs = { route, origin, connections: load.connections, durationMs: load.durationS * 1000 };
    const result = await runLoadClient('http-keepalive-client', args, httpClientResultSchema, args.durationMs + 15_000);
    return rateSample(result.okResponses, result.failures, result.seconds, 'requests', null);
  },
};
