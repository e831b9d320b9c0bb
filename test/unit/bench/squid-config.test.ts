import { describe, expect, it } from 'vitest';
import { squidConfig } from '../../../bench/targets/squid-config.js';

describe('squidConfig', () => {
  const settings = { port: 3128, workDir: '/tmp/sq', maxFileDescriptors: 65536, effectiveUser: 'proxy' };

  it('listens on loopback only, caches nothing and keeps every file in the work dir', () => {
    const lines = squidConfig(settings).split('\n');
    expect(lines).toContain('http_port 127.0.0.1:3128');
    expect(lines).toContain('cache deny all');
    expect(lines).toContain('pid_filename /tmp/sq/squid.pid');
    expect(lines).toContain('cache_log /tmp/sq/cache.log');
    expect(lines).toContain('max_filedescriptors 65536');
    expect(lines).toContain('cache_effective_user proxy');
  });

  it('allows localhost (CONNECT to any port included) and denies everyone else, in that order', () => {
    const lines = squidConfig(settings).split('\n');
    const access = lines.filter((line) => line.startsWith('http_access'));
    expect(access).toEqual(['http_access allow localhost', 'http_access deny all']);
    expect(lines.some((line) => /SSL_ports|Safe_ports/.test(line))).toBe(false);
  });

  it('leaves out cache_effective_user when not running as root', () => {
    expect(squidConfig({ ...settings, effectiveUser: null })).not.toContain('cache_effective_user');
  });
});
