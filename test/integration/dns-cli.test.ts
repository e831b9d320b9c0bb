/**
 * `chokepoint run --dns` as a real process: the listening line names the DNS address, dig gets answers
 * over UDP and TCP, a taken DNS port exits 3, and --help documents the flag.
 */
import dgram from 'node:dgram';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { requireBuiltCli, runCli, startCli, type CliProcess } from '../helpers/cli.js';
import { dig, dnsUpstream, type DnsUpstream } from '../helpers/dns-upstream.js';
import { tempRules, type TempRules } from '../helpers/rules.js';

const AGENT = `agent: cli-dns
identify: { sources: ["127.0.0.1/32"] }
allow:
  - { host: allowed.test, ports: [443] }
`;

describe('chokepoint run --dns', () => {
  let rules: TempRules;
  let upstream: DnsUpstream;
  let config: string;
  const running: CliProcess[] = [];

  beforeAll(async () => {
    requireBuiltCli();
    upstream = await dnsUpstream({ records: [{ name: 'allowed.test', type: 'A', ttl: 60, data: '140.82.112.3' }] });
    rules = await tempRules('unknown_agent: deny\nrequire_credentials: false\ndeny: []\n', { 'cli-dns': AGENT });
    config = path.join(rules.dir, '.config.yaml');
    await writeFile(config, `rules: ${rules.dir}\nstate_dir: ${path.join(rules.dir, '.state')}\ndns: { upstreams: ["127.0.0.1:${upstream.port}"] }\n`);
  });

  afterEach(async () => {
    for (const cli of running.splice(0)) {
      cli.child.kill('SIGTERM');
      await cli.exited;
    }
  });

  afterAll(async () => {
    await upstream?.close();
    await rules?.remove();
  });

  it('documents --dns in --help', async () => {
    const result = await runCli(['--help']);
    expect(result.stdout).toContain('--dns HOST:PORT');
  });

  it('serves DNS on the address it reports, over UDP and TCP, and stops cleanly', async () => {
    const cli = startCli(['run', '--config', config, '--http', '127.0.0.1:0', '--socks', '127.0.0.1:0', '--dns', '127.0.0.1:0', '--events', path.join(rules.dir, 'events.jsonl')]);
    running.push(cli);
    const listening = await cli.waitForStderr(/dns 127\.0\.0\.1:(\d+)\)/);
    const port = Number(listening[1]);
    expect(await dig(port, ['allowed.test'])).toMatch(/IN\s+A\s+140\.82\.112\.3/);
    expect(await dig(port, ['+tcp', 'allowed.test'])).toMatch(/IN\s+A\s+140\.82\.112\.3/);
    const denied = await dig(port, ['other.test']);
    expect(denied).toContain('status: NXDOMAIN');
    expect(denied).toContain('EDE: 15 (Blocked)');
    running.pop();
    cli.child.kill('SIGTERM');
    expect((await cli.exited).code).toBe(0);
  });

  it('exits 3 when the DNS port is taken', async () => {
    const squatter = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => squatter.bind(0, '127.0.0.1', resolve));
    try {
      const result = await runCli(['run', '--config', config, '--http', '127.0.0.1:0', '--socks', '127.0.0.1:0', '--dns', `127.0.0.1:${squatter.address().port}`]);
      expect(result.code).toBe(3);
      expect(result.stderr).toMatch(/cannot listen for dns on 127\.0\.0\.1:\d+: address already in use/);
    } finally {
      await new Promise<void>((resolve) => squatter.close(() => resolve()));
    }
  });
});
