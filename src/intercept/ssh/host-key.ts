import { randomBytes } from 'node:crypto';
import { link, mkdir, readFile, stat, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import ssh2 from 'ssh2';
import { sshFingerprint } from './fingerprint.js';

/**
 * The host key Chokepoint presents to agents whose SSH it intercepts: an ed25519 key in the certs
 * directory, generated on first use (mode 0600) and published whole: written to a file of its own, then
 * hard-linked to its name, which fails when another start published first — so two starts end up
 * with one key and neither can read a half-written one. A key file others may read is refused, as
 * sshd refuses one. Agents pin its fingerprint; the key itself is never logged.
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
    created = await publishNewKey(certsDir, file);
    privateKey = await readFile(file, 'utf8');
  }
  const mode = (await stat(file)).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    throw new Error(`${file} is readable by group or others (mode ${mode.toString(8)}); chmod 600 it (or delete it to have a new one generated, which agents must then pin again)`);
  }
  const parsed = ssh2.utils.parseKey(privateKey);
  if (parsed instanceof Error) throw new Error(`${file} is not an SSH private key: ${parsed.message}`);
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  if (!key) throw new Error(`${file} holds no key`);
  const blob = key.getPublicSSH();
  return { privateKey, fingerprint: sshFingerprint(blob), publicLine: `${key.type} ${blob.toString('base64')}`, file, created };
}

/** Generates a key and links it into place; false when another start's key got there first. */
async function publishNewKey(certsDir: string, file: string): Promise<boolean> {
  await mkdir(certsDir, { recursive: true, mode: 0o700 });
  const generated = ssh2.utils.generateKeyPairSync('ed25519', { comment: 'chokepoint ssh interception' });
  const staging = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  await writeFile(staging, generated.private, { mode: 0o600, flag: 'wx' });
  try {
    await link(staging, file);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    return false;
  } finally {
    await unlink(staging);
  }
}

function isMissing(error: unknown): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}
