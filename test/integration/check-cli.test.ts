/**
 * `chokepoint check` and `chokepoint run --admin` against the built program: the dry-run's exit codes
 * (0 allow / alert, 4 deny, 1 invalid config or rules, 2 usage or unknown agent), its text and JSON
 * output, and the admin listener of a real CLI process with its token from a file.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { adminCall, adminToken } from '../helpers/admin.js';
import { requireBuiltCli, runCli, startCli, type CliProcess } from '../helpers/cli.js';
import { DENY_UNKNOWN_POLICY, tempRules, type TempRules } from '../helpers/rules.js';

describe('chokepoint check', () => {
  let rules: TempRules;
  let config: string;
  const running: CliProcess[] = [];

  beforeAll(async () => {
    requireBuiltCli();
    rules = await tempRules(DENY_UNKNOWN_POLICY, {
      coder: `agent: coder
identify: { sources: ["127.0.0.1/32"] }
allow:
  - { host: api.example.test, ports: [443] }
  - { host: git.example.test, ports: [22], protocols: [ssh] }
alert:
  - { host: "*.watch.example.test", reason: "watched" }
deny:
  - { host: secret.example.test, reason: "secret.example.test is off limits" }
`,
    });
    // The check resolves names as the proxy would: the config's static hosts stand in for DNS.
    const dir = path.join(rules.dir, '.config');
    await mkdir(dir);
    config = path.join(dir, 'chokepoint.yaml');
    await writeFile(
      config,
      `rules: ${rules.dir}\nstate_dir: ${path.join(rules.dir, '.state')}\nhosts:\n  api.example.test: 93.184.215.10\n  git.example.test: 93.184.215.11\n  a.watch.example.test: 93.184.215.12\n  internal.example.test: 10.1.2.3\n`,
    );
  });
  afterEach(() => {
    for (const cli of running.splice(0)) cli.child.kill('SIGKILL');
  });
  afterAll(() => rules.remove());

  const check = (...args: string[]) => runCli(['check', '--config', config, ...args]);

  it('exits 0 on allow and prints the rule', async () => {
    const result = await check('--agent', 'coder', 'api.example.test:443');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^allow\n/);
    expect(result.stdout).toContain('rule:   coder.allow.0');
    expect(result.stdout).toContain('addresses: 93.184.215.10');
  });

  it('exits 0 on alert', async () => {
    const result = await check('--agent', 'coder', 'a.watch.example.test:443');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^alert\n/);
    expect(result.stdout).toContain('reason: watched');
  });

  it('exits 4 on deny: a deny rule, the default deny, SSRF on a private address, the protocol', async () => {
    const ruled = await check('--agent', 'coder', 'secret.example.test:443');
    expect(ruled.code).toBe(4);
    expect(ruled.stdout).toContain('reason: secret.example.test is off limits');
    const nothing = await check('--agent', 'coder', 'elsewhere.example.test:443');
    expect(nothing.code).toBe(4);
    expect(nothing.stdout).toContain('rule:   default-deny');
    const metadata = await check('--agent', 'coder', '169.254.169.254:80');
    expect(metadata.code).toBe(4);
    expect(metadata.stdout).toMatch(/rule: {3}(ssrf\.|default-deny)/);
    const ssh = await check('--agent', 'coder', 'api.example.test:443', '--protocol', 'ssh');
    expect(ssh.code).toBe(4);
    expect(ssh.stdout).toContain('rule:   detection.ssh_not_allowed');
    const sshAllowed = await check('--agent', 'coder', 'git.example.test:22', '--protocol', 'ssh');
    expect(sshAllowed.code).toBe(0);
  });

  it('prints one JSON object with --json', async () => {
    const result = await check('--agent', 'coder', '[2001:db8::1]:443', '--json');
    expect(result.code).toBe(4);
    const parsed: unknown = JSON.parse(result.stdout);
    expect(parsed).toMatchObject({ agent: 'coder', mode: 'enforce', action: 'deny', enforced: true, addresses: ['2001:db8::1'] });
  });

  it('exits 2 on usage errors and an unknown agent, 1 on invalid rules or config', async () => {
    expect((await check('api.example.test:443')).code).toBe(2);
    expect((await check('--agent', 'coder')).code).toBe(2);
    const noPort = await check('--agent', 'coder', 'api.example.test');
    expect(noPort.code).toBe(2);
    expect(noPort.stderr).toContain('HOST:PORT');
    const badProtocol = await check('--agent', 'coder', 'api.example.test:443', '--protocol', 'gopher');
    expect(badProtocol.code).toBe(2);
    const nobody = await check('--agent', 'nobody', 'api.example.test:443');
    expect(nobody.code).toBe(2);
    expect(nobody.stderr).toContain('no agent named nobody');
    const badRules = await runCli(['check', '--rules', path.join(rules.dir, 'missing'), '--agent', 'coder', 'a.test:443']);
    expect(badRules.code).toBe(1);
    const badConfig = await runCli(['check', '--config', path.join(rules.dir, 'missing.yaml'), '--agent', 'coder', 'a.test:443']);
    expect(badConfig.code).toBe(1);
  });

  it('documents check and --admin in --help', async () => {
    const help = await runCli(['--help']);
    expect(help.stdout).toContain('chokepoint check --agent AGENT HOST:PORT');
    expect(help.stdout).toContain('--admin HOST:PORT');
  });

  it('runs the admin API with the token from admin.token_file, and refuses to start without a token', async () => {
    const token = adminToken();
    const tokenFile = path.join(rules.dir, '.config', 'admin-token');
    await writeFile(tokenFile, `${token}\n`, { mode: 0o600 });
    const withToken = path.join(rules.dir, '.config', 'with-token.yaml');
    await writeFile(withToken, `rules: ${rules.dir}\nstate_dir: ${path.join(rules.dir, '.state')}\nlisten: { http: "127.0.0.1:0", socks: null, admin: "127.0.0.1:0" }\nadmin: { token_file: admin-token }\nevents: { file: ${path.join(rules.dir, '.config', 'events.jsonl')} }\n`);
    const cli = startCli(['run', '--config', withToken]);
    running.push(cli);
    const [, port] = await cli.waitForStderr(/admin 127\.0\.0\.1:(\d+)/);
    expect((await adminCall(Number(port), 'GET', '/v1/health')).status).toBe(200);
    expect((await adminCall(Number(port), 'GET', '/v1/agents')).status).toBe(401);
    const agents = await adminCall(Number(port), 'GET', '/v1/agents', { token });
    expect(agents.status).toBe(200);
    expect(cli.stderr()).not.toContain(token);
    cli.child.kill('SIGTERM');
    expect((await cli.exited).code).toBe(0);

    const saved = process.env.CHOKEPOINT_ADMIN_TOKEN;
    delete process.env.CHOKEPOINT_ADMIN_TOKEN;
    try {
      const refused = await runCli(['run', '--rules', rules.dir, '--http', '127.0.0.1:0', '--socks', '127.0.0.1:0', '--admin', '0']);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain('admin listener needs a token');
      const badAddress = await runCli(['run', '--rules', rules.dir, '--admin', 'nowhere:']);
      expect(badAddress.code).toBe(1);
      expect(badAddress.stderr).toContain('--admin');
    } finally {
      if (saved !== undefined) process.env.CHOKEPOINT_ADMIN_TOKEN = saved;
    }
  });
});
