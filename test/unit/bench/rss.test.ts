import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { processTreeRssKiB } from '../../../bench/proc/rss.js';

describe('processTreeRssKiB', () => {
  it('counts a child process on top of its parent', async () => {
    const alone = processTreeRssKiB(process.pid);
    const child = spawn(process.execPath, ['-e', 'process.stdout.write("up"); setInterval(() => {}, 1000)']);
    await once(child.stdout, 'data');
    try {
      const childRss = processTreeRssKiB(child.pid ?? -1);
      expect(childRss).toBeGreaterThan(0);
      expect(processTreeRssKiB(process.pid)).toBeGreaterThanOrEqual(childRss);
      expect(alone).toBeGreaterThan(0);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('is 0 for a process that does not exist', () => {
    expect(processTreeRssKiB(2 ** 22 + 1)).toBe(0);
  });
});
