import { describe, expect, it } from 'vitest';
import { parseServerAddress } from '../../../src/config/addresses.js';
import { applyCliOverrides, defaultConfig, parseConfigText } from '../../../src/config/load-config.js';

describe('DNS settings', () => {
  it('leaves the DNS listener off by default and reads listen.dns and dns.upstreams', () => {
    const plain = parseConfigText('/etc/c.yaml', 'rules: ./rules\n');
    expect(plain.ok && plain.config.listen.dns).toBeNull();
    expect(plain.ok && plain.config.dns.upstreams).toEqual([]);
    const set = parseConfigText('/etc/c.yaml', 'listen: { dns: "127.0.0.1:5353" }\ndns: { upstreams: ["9.9.9.9", "1.1.1.1:5353", "[2620:fe::fe]:53", "2620:fe::9"] }\n');
    expect(set.ok && set.config.listen.dns).toEqual({ host: '127.0.0.1', port: 5353 });
    expect(set.ok && set.config.dns.upstreams).toEqual([
      { host: '9.9.9.9', port: 53 },
      { host: '1.1.1.1', port: 5353 },
      { host: '2620:fe::fe', port: 53 },
      { host: '2620:fe::9', port: 53 },
    ]);
  });

  it('reports bad upstreams with file, line and key', () => {
    const result = parseConfigText('/etc/c.yaml', 'dns:\n  upstreams: ["resolver.example:53"]\n');
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.errors[0]).toMatchObject({ file: '/etc/c.yaml', line: 2, message: expect.stringContaining('not a DNS server address') });
  });

  it('takes --dns from the command line', () => {
    const result = applyCliOverrides(defaultConfig('/tmp'), { dns: '[::1]:5300' }, '/tmp');
    expect(result.ok && result.config.listen.dns).toEqual({ host: '::1', port: 5300 });
    expect(applyCliOverrides(defaultConfig('/tmp'), { dns: '5300' }, '/tmp').ok).toBe(false);
  });

  it('parses server addresses strictly', () => {
    expect(parseServerAddress('10.0.0.2')).toEqual({ ok: true, server: { host: '10.0.0.2', port: 53 } });
    expect(parseServerAddress('10.0.0.2:0').ok).toBe(false);
    expect(parseServerAddress('10.0.0.2:70000').ok).toBe(false);
    expect(parseServerAddress('[::1]:x').ok).toBe(false);
  });
});
