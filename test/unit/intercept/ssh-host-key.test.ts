import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { HOST_KEY_FILE, loadOrCreateHostKey } from '../../../src/intercept/ssh/host-key.js';

let dir: string | undefined;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

describe('SSH interception host key', () => {
  it('is generated once (mode 0600), then loaded; its fingerprint is the one ssh-keygen prints', async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'chokepoint-hostkey-'));
    const certs = path.join(dir, 'certs');
    const first = await loadOrCreateHostKey(certs);
    const second = await loadOrCreateHostKey(certs);
    expect(first.created).toBe(true);
    expect(second.created).toBe(false);
    expect(second.fingerprint).toBe(first.fingerprint);
    expect(statSync(path.join(certs, HOST_KEY_FILE)).mode & 0o777).toBe(0o600);
    expect(first.publicLine).toMatch(/^ssh-ed25519 AAAA/);

    const keygen = spawnSync('ssh-keygen', ['-lf', path.join(certs, HOST_KEY_FILE)], { encoding: 'utf8' });
    if (keygen.error) return; // no OpenSSH here: the comparison needs it
    expect(keygen.stdout.split(' ')[1]).toBe(first.fingerprint);
  });

  it('refuses a file that is not a key, without printing its content', async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'chokepoint-hostkey-'));
    writeFileSync(path.join(dir, HOST_KEY_FILE), 'secret-looking garbage');
    await expect(loadOrCreateHostKey(dir)).rejects.toThrow(/is not an SSH private key/);
    await expect(loadOrCreateHostKey(dir)).rejects.not.toThrow(/garbage/);
  });
});
