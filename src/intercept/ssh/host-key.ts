import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import ssh2 from 'ssh2';
import { sshFingerprint } from './fingerprint.js';

/**
 * The host key Chokepoint presents to agents whose SSH it intercepts: an ed25519 key in the certs
 * directory, generated on first use (mode 0600, created exclusively so two starts cannot race to two
 * keys). Agents pin its fingerprint; the key itself is never logged.
 */

export const HOST_KEY_FILE = 'ssh_host_ed25519.key';

export interface HostKey {
  /** OpenSSH private key text, for ssh2's Server. */
  privateKey: string;
  /** "SHA256:…", the fingerprint agents pin. */
  fingerprint: string;
  /** `ssh-ed25519 AAAA…`, for an agent's known_hosts. */
  publicLine: string;
  file: string;
  created: boolean;
}

export async function loadOrCreateHostKey(certsDir: string): Promise<HostKey> {
  const file = path.join(certsDir, HOST_KEY_FILE);
  let created = false;
  let privateKey: string;
  try {
    privateKey = await readFile(file, 'utf8');
  } catch (error) {
    if (!isMissing(error)) throw error;
    await mkdir(certsDir, { recursive: true, mode: 0o700 });
    const generated = ssh2.utils.generateKeyPairSync('ed25519', { comment: 'chokepoint ssh interception' });
    try {
      await writeFile(file, generated.private, { mode: 0o600, flag: 'wx' });
      created = true;
    } catch (writeError) {
      // Another start wrote it first: use that one.
      if ((writeError as NodeJS.ErrnoException).code !== 'EEXIST') throw writeError;
    }
    privateKey = await readFile(file, 'utf8');
  }
  const parsed = ssh2.utils.parseKey(privateKey);
  if (parsed instanceof Error) throw new Error(`${file} is not an SSH private key: ${parsed.message}`);
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  if (!key) throw new Error(`${file} holds no key`);
  const blob = key.getPublicSSH();
  return { privateKey, fingerprint: sshFingerprint(blob), publicLine: `${key.type} ${blob.toString('base64')}`, file, created };
}

function isMissing(error: unknown): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}
