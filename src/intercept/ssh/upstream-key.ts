import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';

/**
 * The private key an `intercept: ssh` rule names, read from the certs directory. A key file that group
 * or others may read is refused, as OpenSSH's ssh refuses one ("UNPROTECTED PRIVATE KEY FILE"): another
 * local user or a sidecar sharing the volume could log in upstream as the proxy. Reasons name the file
 * and the fix, never the content.
 */

export type ProxyKeyRead = { ok: true; privateKey: string } | { ok: false; reason: string };

export async function readProxyKey(certsDir: string, key: string): Promise<ProxyKeyRead> {
  const file = path.join(certsDir, key);
  try {
    const mode = (await stat(file)).mode & 0o777;
    if ((mode & 0o077) !== 0) return { ok: false, reason: `its key ${key} is readable by group or others (mode ${mode.toString(8)}); chmod 600 it` };
    return { ok: true, privateKey: await readFile(file, 'utf8') };
  } catch (error) {
    return { ok: false, reason: `the proxy cannot read its key ${key} (${(error as NodeJS.ErrnoException).code ?? 'error'})` };
  }
}
