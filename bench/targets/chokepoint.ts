/** Starts the Chokepoint build in this checkout (dist/src/cli.js) as the proxy under test. */
import { access } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { freePort } from '../proc/ports.js';
import { writeChokepointConfig } from './chokepoint-config.js';
import { launchProxyProcess } from './proxy-process.js';
import type { StartedProxy } from './types.js';

/** From dist/bench/targets/ to dist/src/cli.js. */
const CLI = fileURLToPath(new URL('../../src/cli.js', import.meta.url));

export function startChokepoint(): Promise<StartedProxy> {
  return start('chokepoint', true);
}

/** The same build with tunnel classification off (`inspect: false`): the cost of inspection. */
export function startChokepointUninspected(): Promise<StartedProxy> {
  return start('chokepoint-raw', false);
}

async function start(name: string, inspect: boolean): Promise<StartedProxy> {
  await access(CLI).catch(() => {
    throw new Error(`${CLI} not found: build Chokepoint first (npm run build)`);
  });
  return launchProxyProcess(name, async (workDir) => {
    const ports = { http: await freePort(), socks: await freePort() };
    const { configFile } = await writeChokepointConfig(workDir, ports, inspect);
    return { command: process.execPath, args: [CLI, 'run', '--config', configFile], httpPort: ports.http };
  });
}
