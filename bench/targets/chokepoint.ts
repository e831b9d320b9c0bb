/** Starts the Chokepoint build in this checkout (dist/src/cli.js) as the proxy under test. */
import { access } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { freePort } from '../proc/ports.js';
import { writeChokepointConfig } from './chokepoint-config.js';
import { launchProxyProcess } from './proxy-process.js';
import type { StartedProxy } from './types.js';

/** From dist/bench/targets/ to dist/src/cli.js. */
const CLI = fileURLToPath(new URL('../../src/cli.js', import.meta.url));

export async function startChokepoint(): Promise<StartedProxy> {
  await access(CLI).catch(() => {
    throw new Error(`${CLI} not found: build Chokepoint first (npm run build)`);
  });
  return launchProxyProcess('chokepoint', async (workDir) => {
    const ports = { http: await freePort(), socks: await freePort() };
    const { configFile } = await writeChokepointConfig(workDir, ports);
    return { command: process.execPath, args: [CLI, 'run', '--config', configFile], httpPort: ports.http };
  });
}
