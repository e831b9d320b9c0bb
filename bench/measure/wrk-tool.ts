/**
 * wrk as the HTTP load generator. wrk is a C epoll client costing a fraction of the CPU per request of any
 * Node client, which matters when load generator, proxy and origin share two cores. To go through a proxy
 * it connects to the proxy's port and a Lua script sets the request target to the origin's absolute URI
 * (what a proxy-aware client sends), with the origin in the Host header.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onCleanup } from '../lifecycle.js';
import { lastLine, parseResultLine } from '../proc/load-process.js';
import { runCommand } from '../proc/spawn.js';
import { wrkSummarySchema, type Endpoint, type Route } from '../protocol.js';
import type { HttpLoad, HttpLoadTool } from './http-load-tool.js';
import { rateSample, type Sample } from './sample.js';

/** Request target and Host come from the environment so one script serves every target. */
const LUA_SCRIPT = `-- Written by bench/measure/wrk-tool.ts.
wrk.method = "GET"
wrk.path = os.getenv("BENCH_REQUEST_TARGET")
wrk.headers["Host"] = os.getenv("BENCH_HOST")

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"durationUs":%d,"connectErrors":%d,"readErrors":%d,"writeErrors":%d,"statusErrors":%d,"timeouts":%d}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout))
end
`;

/** One wrk thread: a second one would only compete with the proxy for the machine's two cores. */
const THREADS = 1;

async function runWrk(scriptFile: string, route: Route, origin: Endpoint, load: HttpLoad): Promise<Sample> {
  const originAuthority = `${origin.host}:${origin.port}`;
  const connectTo = route.kind === 'proxy' ? `127.0.0.1:${route.port}` : originAuthority;
  const requestTarget = route.kind === 'proxy' ? `http://${originAuthority}/` : '/';
  const args = ['-t', String(THREADS), '-c', String(load.connections), '-d', `${load.durationS}s`];
  args.push('--timeout', '5s', '-s', scriptFile, `http://${connectTo}/`);
  const env = { BENCH_REQUEST_TARGET: requestTarget, BENCH_HOST: originAuthority };
  const stdout = await runCommand('wrk', args, load.durationS * 1000 + 15_000, env);
  const summary = parseResultLine(lastLine(stdout), wrkSummarySchema, 'wrk');
  const ok = summary.requests - summary.statusErrors;
  const errors = summary.connectErrors + summary.readErrors + summary.writeErrors + summary.statusErrors + summary.timeouts;
  const firstError =
    `wrk errors: connect ${summary.connectErrors}, read ${summary.readErrors}, write ${summary.writeErrors}, ` +
    `non-2xx/3xx ${summary.statusErrors}, timeouts ${summary.timeouts}`;
  return rateSample(ok, errors, summary.durationUs / 1e6, 'requests', firstError);
}

export async function createWrkTool(version: string): Promise<HttpLoadTool> {
  const dir = await mkdtemp(join(tmpdir(), 'chokepoint-bench-wrk-'));
  onCleanup(() => rm(dir, { recursive: true, force: true }));
  const scriptFile = join(dir, 'absolute-uri.lua');
  await writeFile(scriptFile, LUA_SCRIPT);
  return {
    description: `${version}, ${THREADS} thread, Lua script for absolute-URI requests`,
    measure: (route, origin, load) => runWrk(scriptFile, route, origin, load),
  };
}
