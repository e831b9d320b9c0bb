import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { resolveHeaders } from '../../../src/quarantine/webhooks.js';

/**
 * `${file:…}` header secrets are read per delivery on libuv's small worker pool, which the proxy's own
 * file and name-lookup work shares: a path that is not a small regular file must fail the delivery at
 * once, never hang a worker (a FIFO) nor fill the heap (`/dev/zero`, a huge file).
 */

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'chokepoint-hook-secrets-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('webhook header secrets from files', () => {
  it('reads a token file, without its trailing newline', async () => {
    const token = path.join(dir, 'token');
    await writeFile(token, 's3cret\n');
    expect(await resolveHeaders({ Authorization: `Bearer \${file:${token}}` })).toEqual({ Authorization: 'Bearer s3cret' });
  });

  it('refuses a file larger than a token', async () => {
    const huge = path.join(dir, 'huge');
    await writeFile(huge, Buffer.alloc(2 * 1024 * 1024, 0x61));
    await expect(resolveHeaders({ Authorization: `\${file:${huge}}` })).rejects.toThrow(/header Authorization: .*huge is larger than 65536 bytes/);
  });

  it('refuses a device and a FIFO at once', async () => {
    await expect(resolveHeaders({ 'X-Token': '${file:/dev/zero}' })).rejects.toThrow(/\/dev\/zero is not a regular file/);
    const fifo = path.join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    await expect(resolveHeaders({ 'X-Token': `\${file:${fifo}}` })).rejects.toThrow(/fifo is not a regular file/);
  });
});
