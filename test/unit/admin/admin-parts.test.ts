import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { bearerMatches } from '../../../src/admin/auth.js';
import { resolveAdminToken } from '../../../src/admin/token.js';
import { parseAdminListenAddress } from '../../../src/config/admin-address.js';
import { formatConfigError } from '../../../src/config/errors.js';
import { applyCliOverrides, defaultConfig, parseConfigText } from '../../../src/config/load-config.js';
import { EventBus } from '../../../src/events/bus.js';
import type { ChokepointEvent } from '../../../src/events/types.js';
import { TrainingMarkers } from '../../../src/markers/markers.js';
import { ruleKind } from '../../../src/metrics/event-metrics.js';
import { parseTargetText } from '../../../src/pipeline/dry-run.js';

describe('bearerMatches', () => {
  const token = 'a'.repeat(32);
  it('accepts exactly the token after "Bearer"', () => {
    expect(bearerMatches(`Bearer ${token}`, token)).toBe(true);
    expect(bearerMatches(`bearer ${token}`, token)).toBe(true);
  });
  it('refuses a missing, wrong, longer, shorter or differently-schemed credential', () => {
    expect(bearerMatches(undefined, token)).toBe(false);
    expect(bearerMatches('', token)).toBe(false);
    expect(bearerMatches(`Bearer ${token}b`, token)).toBe(false);
    expect(bearerMatches(`Bearer ${token.slice(1)}`, token)).toBe(false);
    expect(bearerMatches(`Basic ${token}`, token)).toBe(false);
    expect(bearerMatches(token, token)).toBe(false);
    expect(bearerMatches(`Bearer ${token} extra`, token)).toBe(false);
  });
});

describe('resolveAdminToken', () => {
  it('takes token_file first, then token, then the environment', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'chokepoint-token-'));
    try {
      const file = path.join(dir, 'token');
      await writeFile(file, 'from-the-file-0123456789\n');
      const env = { CHOKEPOINT_ADMIN_TOKEN: 'from-the-environment-0123' };
      expect(await resolveAdminToken({ tokenFile: file, token: 'from-the-config-0123456' }, env)).toMatchObject({ ok: true, token: 'from-the-file-0123456789' });
      expect(await resolveAdminToken({ token: 'from-the-config-0123456' }, env)).toMatchObject({ ok: true, token: 'from-the-config-0123456' });
      expect(await resolveAdminToken(undefined, env)).toMatchObject({ ok: true, token: 'from-the-environment-0123' });
      const missingFile = await resolveAdminToken({ tokenFile: path.join(dir, 'absent') }, env);
      expect(missingFile).toMatchObject({ ok: false, message: expect.stringContaining('ENOENT') });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
  it('refuses no token and a short one, without echoing it', async () => {
    expect(await resolveAdminToken(undefined, {})).toMatchObject({ ok: false });
    const short = await resolveAdminToken({ token: 'tiny-secret' }, {});
    expect(short).toMatchObject({ ok: false });
    expect(JSON.stringify(short)).not.toContain('tiny-secret');
    expect(await resolveAdminToken({ token: 'has a space in it 0123456' }, {})).toMatchObject({ ok: false });
  });
});

describe('admin listen address and config keys', () => {
  it('defaults the host to loopback when only a port is given', () => {
    expect(parseAdminListenAddress('9090')).toEqual({ ok: true, listen: { host: '127.0.0.1', port: 9090 } });
    expect(parseAdminListenAddress(':9090')).toEqual({ ok: true, listen: { host: '127.0.0.1', port: 9090 } });
    expect(parseAdminListenAddress('[::1]:9090')).toEqual({ ok: true, listen: { host: '::1', port: 9090 } });
    expect(parseAdminListenAddress('99999')).toMatchObject({ ok: false });
  });
  it('reads listen.admin and admin.token_file (relative to the config file); off when absent', () => {
    const parsed = parseConfigText('/etc/chokepoint/c.yaml', 'listen: { admin: "127.0.0.1:9090" }\nadmin: { token_file: secrets/admin }\n');
    if (!parsed.ok) throw new Error(parsed.errors.map(formatConfigError).join('\n'));
    expect(parsed.config.listen.admin).toEqual({ host: '127.0.0.1', port: 9090 });
    expect(parsed.config.admin).toEqual({ tokenFile: '/etc/chokepoint/secrets/admin' });
    const plain = parseConfigText('/etc/c.yaml', 'rules: ./rules\n');
    expect(plain.ok && plain.config.listen.admin).toBeUndefined();
  });
  it('refuses token and token_file together, unknown admin keys, and a bad --admin flag', () => {
    const both = parseConfigText('c.yaml', 'admin: { token: "0123456789abcdef", token_file: f }\n');
    expect(both.ok).toBe(false);
    expect(parseConfigText('c.yaml', 'admin: { secret: x }\n').ok).toBe(false);
    expect(applyCliOverrides(defaultConfig('/'), { admin: 'nowhere:' }, '/').ok).toBe(false);
    const flag = applyCliOverrides(defaultConfig('/'), { admin: '9091' }, '/');
    expect(flag.ok && flag.config.listen.admin).toEqual({ host: '127.0.0.1', port: 9091 });
  });
});

describe('parseTargetText', () => {
  it('reads host:port, IPv4:port and [IPv6]:port', () => {
    expect(parseTargetText('example.com:443')).toEqual({ host: 'example.com', port: 443 });
    expect(parseTargetText('10.0.0.1:22')).toEqual({ host: '10.0.0.1', port: 22 });
    expect(parseTargetText('[2001:db8::1]:443')).toEqual({ host: '2001:db8::1', port: 443 });
  });
  it('refuses text without a port or with a bare IPv6 address', () => {
    expect(parseTargetText('example.com')).toBeUndefined();
    expect(parseTargetText('2001:db8::1:443')).toBeUndefined();
    expect(parseTargetText(':443')).toBeUndefined();
  });
});

describe('TrainingMarkers on the event bus', () => {
  const setup = (): { bus: EventBus; markers: TrainingMarkers; seen: ChokepointEvent[] } => {
    const bus = new EventBus();
    const markers = new TrainingMarkers();
    bus.setEnricher(markers.enrich);
    const seen: ChokepointEvent[] = [];
    bus.subscribe((event) => seen.push(event));
    return { bus, markers, seen };
  };

  it('labels every later event of the agent, flow tags winning per key', () => {
    const { bus, markers, seen } = setup();
    bus.emit({ name: 'flow.allowed', agent: 'coder' });
    markers.set('coder', { run: 'r1', step: '5' });
    bus.emit({ name: 'flow.allowed', agent: 'coder', tags: { step: '9', call: 'c1' } });
    bus.emit({ name: 'flow.allowed', agent: 'other' });
    bus.emit({ name: 'proxy.stopped' });
    expect(seen.map((event) => event.labels)).toEqual([undefined, { run: 'r1', step: '9', call: 'c1' }, undefined, undefined]);
  });

  it('replaces a marker with the next one, and clears it with an empty one', () => {
    const { bus, markers, seen } = setup();
    markers.set('coder', { run: 'r1', episode: '2' });
    markers.set('coder', { run: 'r1', step: '6' });
    bus.emit({ name: 'flow.closed', agent: 'coder' });
    markers.set('coder', {});
    bus.emit({ name: 'flow.closed', agent: 'coder' });
    expect(seen.map((event) => event.labels)).toEqual([{ run: 'r1', step: '6' }, undefined]);
    expect(markers.get('coder')).toBeUndefined();
  });
});

describe('ruleKind', () => {
  it('maps built-in rule ids to their kind and every operator rule id to "rule"', () => {
    expect(ruleKind('ssrf.loopback')).toBe('ssrf');
    expect(ruleKind('detection.stratum')).toBe('detection');
    expect(ruleKind('limit.agent')).toBe('limit');
    expect(ruleKind('auth.invalid-credentials')).toBe('auth');
    expect(ruleKind('default-deny')).toBe('default-deny');
    expect(ruleKind('quarantine')).toBe('quarantine');
    expect(ruleKind('coder.deny.3')).toBe('rule');
    expect(ruleKind('my-custom-id')).toBe('rule');
    expect(ruleKind(undefined)).toBe('none');
  });
});
