import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
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

  it('gives concurrent first starts one key: none reads a half-written file, exactly one generates it', async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'chokepoint-hostkey-'));
    const certs = path.join(dir, 'certs');
    const loads = await Promise.allSettled(Array.from({ length: 8 }, () => loadOrCreateHostKey(certs)));
    const keys = loads.map((load) => {
      if (load.status === 'rejected') throw load.reason;
      return load.value;
    });
    expect(new Set(keys.map((key) => key.fingerprint)).size).toBe(1);
    expect(keys.filter((key) => key.created)).toHaveLength(1);
    expect(readdirSync(certs)).toEqual([HOST_KEY_FILE]);
  });

  it('refuses a key file that others may read (as sshd does), naming the fix', async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'chokepoint-hostkey-'));
    const certs = path.join(dir, 'certs');
    await loadOrCreateHostKey(certs);
    chmodSync(path.join(certs, HOST_KEY_FILE), 0o644);
    await expect(loadOrCreateHostKey(certs)).rejects.toThrow(/readable by group or others \(mode 644\); chmod 600/);
  });

  it('refuses a file that is not a key, without printing its content', async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'chokepoint-hostkey-'));
    writeFileSync(path.join(dir, HOST_KEY_FILE), 'secret-looking garbage', { mode: 0o600 });
    await expect(loadOrCreateHostKey(dir)).rejects.toThrow(/is not an SSH private key/);
    await expect(loadOrCreateHostKey(dir)).rejects.not.toThrow(/garbage/);
  });
});
