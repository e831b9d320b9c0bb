/**
 * Load client used only when wrk is unavailable: `connections` concurrent keep-alive loops of GET requests,
 * through the proxy's absolute-URI forwarding (or straight to the origin for "direct"), for `durationMs`.
 * Node's HTTP client costs far more CPU per request than wrk, so its figures are lower for every target;
 * ratios stay meaningful because all targets are measured with the same client.
 */
import http from 'node:http';
import { httpClientArgsSchema, type HttpClientArgs, type HttpClientResult } from '../protocol.js';
import { runClientMain } from './child-main.js';

const REQUEST_TIMEOUT_MS = 5_000;

function getOnce(agent: http.Agent, args: HttpClientArgs): Promise<boolean> {
  const originAuthority = `${args.origin.host}:${args.origin.port}`;
  const viaProxy = args.route.kind === 'proxy';
  return new Promise((resolve) => {
    const request = http.get(
      {
        agent,
        host: viaProxy ? '127.0.0.1' : args.origin.host,
        port: args.route.kind === 'proxy' ? args.route.port : args.origin.port,
        path: viaProxy ? `http://${originAuthority}/` : '/',
        headers: { host: originAuthority },
        timeout: REQUEST_TIMEOUT_MS,
      },
      (response) => {
        response.on('end', () => resolve(response.statusCode === 200)).on('error', () => resolve(false)).resume();
      },
    );
    request.on('timeout', () => request.destroy(new Error('timeout')));
    request.on('error', () => resolve(false));
  });
}

async function hammer(args: HttpClientArgs): Promise<HttpClientResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: args.connections });
  let okResponses = 0;
  let failures = 0;
  const begin = performance.now();
  const deadline = begin + args.durationMs;
  const loop = async (): Promise<void> => {
    while (performance.now() < deadline) {
      if (await getOnce(agent, args)) okResponses += 1;
      else failures += 1;
    }
  };
  await Promise.all(Array.from({ length: args.connections }, loop));
  const seconds = (performance.now() - begin) / 1000;
  agent.destroy();
  return { okResponses, failures, seconds };
}

runClientMain(httpClientArgsSchema, hammer);
