import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseListenAddress } from '../../../src/config/addresses.js';
import { DEFAULT_CONFIG } from '../../../src/config/chokepoint-config.js';
import { formatConfigError } from '../../../src/config/errors.js';
import {
  applyCliOverrides,
  defaultConfig,
  loadConfigFile,
  parseConfigText,
  type ConfigResult,
} from '../../../src/config/load-config.js';
import type { ChokepointConfig } from '../../../src/config/chokepoint-config.js';
import { makeTempTree } from './temp-tree.js';

const CONFIG_FILE = '/etc/chokepoint/chokepoint.yaml';

const FULL = `listen: { http: "127.0.0.1:3128", socks: "[::1]:1080" }
rules: ./rules
state_dir: /var/lib/chokepoint
certs_dir: ./keys
events: { file: logs/events.jsonl, heartbeat_s: 15 }
hosts:
  Example.TEST.: 127.0.0.1
  dual.test: ["127.0.0.2", "::1"]
dns: { cache_max_entries: 50, min_ttl_s: 1, max_ttl_s: 60, negative_ttl_s: 0, timeout_ms: 500 }
timeouts: { header_ms: 1000, connect_ms: 2000, idle_ms: 3000, peek_ms: 100 }
limits: { max_header_bytes: 8192, max_flows_total: 100, max_flows_per_agent: 10 }
`;

function configOf(result: ConfigResult): ChokepointConfig {
  if (!result.ok) throw new Error(result.errors.map(formatConfigError).join('\n'));
  return result.config;
}

function errorsOf(result: ConfigResult): string[] {
  if (result.ok) throw new Error('expected the config to be rejected');
  return result.errors.map(formatConfigError);
}

describe('parseConfigText', () => {
  it('reads every setting, resolving paths against the config file directory', () => {
    expect(configOf(parseConfigText(CONFIG_FILE, FULL))).toEqual({
      listen: { http: { host: '127.0.0.1', port: 3128 }, socks: { host: '::1', port: 1080 }, dns: null, transparent: null },
      rulesDir: '/etc/chokepoint/rules',
      stateDir: '/var/lib/chokepoint',
      certsDir: '/etc/chokepoint/keys',
      inspect: true,
      events: { file: '/etc/chokepoint/logs/events.jsonl', heartbeatSeconds: 15 },
      hosts: new Map([
        ['example.test', ['127.0.0.1']],
        ['dual.test', ['127.0.0.2', '::1']],
      ]),
      dns: { cacheMaxEntries: 50, minTtlSeconds: 1, maxTtlSeconds: 60, negativeTtlSeconds: 0, timeoutMs: 500, maxInFlightPerAgent: 64, maxInFlight: 256, upstreams: [] },
      timeouts: { headerMs: 1000, connectMs: 2000, idleMs: 3000, peekMs: 100 },
      limits: { maxHeaderBytes: 8192, maxFlowsTotal: 100, maxFlowsPerAgent: 10 },
      quarantine: { defaultDurationS: null, durationsS: {}, webhooks: [] },
      sinks: [],
    });
  });

  it('fills every default for an empty file, equal to defaultConfig', () => {
    const config = configOf(parseConfigText(CONFIG_FILE, '# defaults only\n'));
    expect(config).toEqual(defaultConfig('/etc/chokepoint'));
    expect(config.listen.http).toEqual(DEFAULT_CONFIG.listen.http);
    expect(config.events.file).toBeNull();
    expect(config.events.heartbeatSeconds).toBe(60);
  });

  it('turns heartbeats off with heartbeat_s: 0 and refuses intervals below a second', () => {
    expect(configOf(parseConfigText(CONFIG_FILE, 'events: { heartbeat_s: 0 }\n')).events.heartbeatSeconds).toBe(0);
    expect(errorsOf(parseConfigText(CONFIG_FILE, 'events: { heartbeat_s: -1 }\n')).join('\n')).toMatch(/heartbeat_s: must be 0 \(off\) or at least 1 second/);
    expect(errorsOf(parseConfigText(CONFIG_FILE, 'events: { heartbeat_s: 0.01 }\n')).join('\n')).toMatch(/heartbeat_s/);
    expect(configOf(parseConfigText(CONFIG_FILE, 'events: { heartbeat_s: 2.5 }\n')).events.heartbeatSeconds).toBe(2.5);
  });

  it('fills defaults inside partly written sections', () => {
    const config = configOf(parseConfigText(CONFIG_FILE, 'dns: { timeout_ms: 100 }\nlisten: { socks: null }\n'));
    expect(config.dns).toEqual({ ...DEFAULT_CONFIG.dns, timeoutMs: 100 });
    expect(config.listen).toEqual({ http: DEFAULT_CONFIG.listen.http, socks: null, dns: null, transparent: null });
  });

  it('reports each problem with its line and key path', () => {
    const text = `listen:
  http: "::1:3128"
  sock: "127.0.0.1:1080"
hosts:
  bad.test: "10.0.0.300"
  "10.0.0.1": 10.0.0.2
dns: { min_ttl_s: 10, max_ttl_s: 5 }
timeouts: { idle_ms: 9999999999, peek_ms: 0 }
limits:
  max_flows_total: "many"
  max_header_bytes: 1.5
`;
    expect(errorsOf(parseConfigText('c.yaml', text))).toEqual([
      'c.yaml:2: listen.http: "::1:3128" is not a listen address HOST:PORT: write an IPv6 address in brackets, e.g. [::1]:3128',
      'c.yaml:3: listen.sock: unknown key "sock"',
      'c.yaml:5: hosts["bad.test"]: "10.0.0.300" is not an IP address',
      'c.yaml:6: hosts["10.0.0.1"]: "10.0.0.1" is an IP address, not a name',
      'c.yaml:7: dns.min_ttl_s: min_ttl_s (10) is above max_ttl_s (5)',
      'c.yaml:8: timeouts.idle_ms: must be at most 2147483647; got 9999999999',
      'c.yaml:8: timeouts.peek_ms: must be at least 1; got 0',
      'c.yaml:10: limits.max_flows_total: expected a number, got "many"',
      'c.yaml:11: limits.max_header_bytes: expected an integer, got 1.5',
    ]);
  });

  it('refuses disabling both listeners, and two listeners on one address', () => {
    expect(errorsOf(parseConfigText('c.yaml', 'listen: { http: null, socks: null }\n'))).toEqual([
      'c.yaml:1: listen: http, socks and transparent are all disabled; Chokepoint would accept nothing',
    ]);
    expect(errorsOf(parseConfigText('c.yaml', 'listen:\n  http: "0.0.0.0:8080"\n  socks: "0.0.0.0:8080"\n'))).toEqual([
      'c.yaml:3: listen.socks: http and socks listen on the same address',
    ]);
  });

  it('reports YAML syntax errors with their line', () => {
    const errors = errorsOf(parseConfigText('c.yaml', 'rules: ./rules\nlisten: { http: "a:1"\n'));
    expect(errors[0]).toMatch(/^c\.yaml:[23]: /);
  });
});

describe('loadConfigFile', () => {
  it('reads a file from disk', async () => {
    const tree = await makeTempTree({ 'chokepoint.yaml': 'rules: ../policy\n' });
    try {
      const config = configOf(await loadConfigFile(path.join(tree.root, 'chokepoint.yaml')));
      expect(config.rulesDir).toBe(path.resolve(tree.root, '../policy'));
    } finally {
      await tree.remove();
    }
  });

  it('reports a missing file', async () => {
    expect(errorsOf(await loadConfigFile('/nonexistent/chokepoint.yaml'))).toEqual([
      expect.stringMatching(/^\/nonexistent\/chokepoint\.yaml: cannot read: /),
    ]);
  });
});

describe('applyCliOverrides', () => {
  const base = configOf(parseConfigText(CONFIG_FILE, FULL));

  it('lays flags over the file, with paths relative to the working directory', () => {
    const config = configOf(
      applyCliOverrides(base, { rules: 'my-rules', http: '[::]:8080', socks: 'localhost:1081', events: '-' }, '/home/me'),
    );
    expect(config).toEqual({
      ...base,
      rulesDir: '/home/me/my-rules',
      listen: { http: { host: '::', port: 8080 }, socks: { host: 'localhost', port: 1081 }, dns: null, transparent: null },
      events: { file: null, heartbeatSeconds: 15 },
    });
    expect(configOf(applyCliOverrides(base, { events: 'e.jsonl' }, '/home/me')).events).toEqual({ file: '/home/me/e.jsonl', heartbeatSeconds: 15 });
  });

  it('leaves the config alone without flags', () => {
    expect(configOf(applyCliOverrides(base, {}, '/home/me'))).toEqual(base);
  });

  it('reports every bad flag', () => {
    expect(errorsOf(applyCliOverrides(base, { http: '3128', socks: '127.0.0.1:99999', rules: '' }, '/'))).toEqual([
      'command line: --http: "3128" is not a listen address HOST:PORT: the port is missing',
      'command line: --socks: "127.0.0.1:99999" is not a listen address HOST:PORT: "99999" is not a port (0-65535)',
      'command line: --rules: is empty',
    ]);
  });
});

describe('parseListenAddress', () => {
  it.each([
    ['127.0.0.1:3128', { host: '127.0.0.1', port: 3128 }],
    ['[::1]:3128', { host: '::1', port: 3128 }],
    ['[0:0::1]:0', { host: '::1', port: 0 }],
    ['LocalHost:1080', { host: 'localhost', port: 1080 }],
    ['0.0.0.0:1', { host: '0.0.0.0', port: 1 }],
  ])('accepts %s', (text, listen) => {
    expect(parseListenAddress(text)).toEqual({ ok: true, listen });
  });

  it.each([':3128', '127.0.0.1', '127.0.0.1:', '127.0.0.1:http', '[::1:3128', '[127.0.0.1]:80', '127.1:80', 'a b:80'])(
    'refuses %s',
    (text) => {
      expect(parseListenAddress(text).ok).toBe(false);
    },
  );
});
