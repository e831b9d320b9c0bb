/** Starts Squid (installing the Debian package if needed) as the peer proxy, in its own temp dir. */
import { chown, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort } from '../proc/ports.js';
import { childFdLimit } from '../proc/spawn.js';
import { ensureTool } from '../proc/tools.js';
import { launchProxyProcess } from './proxy-process.js';
import { squidConfig } from './squid-config.js';
import type { StartedProxy } from './types.js';

interface SystemUser {
  name: string;
  uid: number;
  gid: number;
}

/** The first of `names` present in /etc/passwd: who Squid runs as after dropping root. */
async function firstSystemUser(names: string[]): Promise<SystemUser | null> {
  const passwd = await readFile('/etc/passwd', 'utf8').catch(() => '');
  const users = passwd.split('\n').map((line) => line.split(':'));
  for (const name of names) {
    const fields = users.find((entry) => entry[0] === name);
    const uid = Number.parseInt(fields?.[2] ?? '', 10);
    const gid = Number.parseInt(fields?.[3] ?? '', 10);
    if (Number.isFinite(uid) && Number.isFinite(gid)) return { name, uid, gid };
  }
  return null;
}

export async function startSquid(): Promise<StartedProxy> {
  const tool = await ensureTool('squid', 'squid');
  if (!tool.available) throw new Error(tool.reason);
  return launchProxyProcess('squid', async (workDir) => {
    // Run as root, Squid switches to an unprivileged user and must still write its log and pid file.
    const runAs = process.getuid?.() === 0 ? await firstSystemUser(['proxy', 'nobody']) : null;
    if (runAs !== null) await chown(workDir, runAs.uid, runAs.gid);
    const port = await freePort();
    const configFile = join(workDir, 'squid.conf');
    const config = squidConfig({
      port,
      workDir,
      maxFileDescriptors: await childFdLimit(),
      effectiveUser: runAs?.name ?? null,
    });
    await writeFile(configFile, config);
    return { command: 'squid', args: ['-N', '-f', configFile], httpPort: port, extraLogs: [join(workDir, 'cache.log')] };
  });
}
