import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { writeChokepointConfig } from '../../../bench/targets/chokepoint-config.js';

let dir = '';
afterEach(() => rm(dir, { recursive: true, force: true }));

describe('writeChokepointConfig', () => {
  it('writes the config, the policy and one allow-loopback agent', async () => {
    dir = await mkdtemp(join(tmpdir(), 'bench-config-test-'));
    const layout = await writeChokepointConfig(dir, { http: 18080, socks: 11080 });
    const config: unknown = parse(await readFile(layout.configFile, 'utf8'));
    expect(config).toMatchObject({
      listen: { http: '127.0.0.1:18080', socks: '127.0.0.1:11080' },
      rules: join(dir, 'rules'),
      events: { file: layout.eventsFile },
    });
    const policy: unknown = parse(await readFile(join(dir, 'rules', 'policy.yaml'), 'utf8'));
    expect(policy).toEqual({ unknown_agent: 'deny', require_credentials: false, deny: [] });
    const agent: unknown = parse(await readFile(join(dir, 'rules', 'agents', 'bench.yaml'), 'utf8'));
    expect(agent).toEqual({
      agent: 'bench',
      identify: { sources: ['127.0.0.0/8'] },
      mode: 'enforce',
      allow: [{ cidr: '127.0.0.0/8', ports: '*' }],
    });
  });
});
