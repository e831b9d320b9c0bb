/**
 * `chokepoint iptables`: flags, defaults and errors, through the real CLI in --dry-run mode (which prints
 * the commands and applies nothing). Applying them is proved in test/e2e/iptables-netns.test.ts.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installPlan, removePlan, renderStep } from '../../src/iptables/plan.js';
import { requireBuiltCli, runCli } from '../helpers/cli.js';

describe('chokepoint iptables', () => {
  let dir: string;
  beforeAll(() => {
    requireBuiltCli();
    dir = mkdtempSync(path.join(tmpdir(), 'chokepoint-iptables-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('--dry-run prints exactly the install plan, with the default ports', async () => {
    const result = await runCli(['iptables', 'install', '--mode', 'sidecar', '--proxy-user', '990', '--dry-run']);
    expect(result.code).toBe(0);
    const expected = installPlan({ mode: 'sidecar', proxyUid: 990, transparentPort: 15001, dnsPort: 15053 }).map(renderStep);
    expect(result.stdout).toBe(`${expected.join('\n')}\n`);
  });

  it('takes the transparent port from the config file, and flags over it', async () => {
    const config = path.join(dir, 'chokepoint.yaml');
    writeFileSync(config, 'listen: { transparent: "[::]:4001" }\n');
    const fromConfig = await runCli(['iptables', 'install', '--mode', 'gateway', '--config', config, '--dry-run']);
    expect(fromConfig.code).toBe(0);
    expect(fromConfig.stdout).toContain('-A CHOKEPOINT_PRE -p tcp -j REDIRECT --to-ports 4001\n');
    const flags = await runCli(['iptables', 'install', '--mode', 'gateway', '--config', config, '--transparent-port', '4002', '--dns-port', '5353', '--dry-run']);
    expect(flags.stdout).toContain('-A CHOKEPOINT_PRE -p tcp -j REDIRECT --to-ports 4002\n');
    expect(flags.stdout).toContain('-A CHOKEPOINT_PRE -p udp --dport 53 -j REDIRECT --to-ports 5353\n');
  });

  it('takes the admin port to refuse from the config file (sidecar), and --admin-port over it', async () => {
    const config = path.join(dir, 'admin.yaml');
    writeFileSync(config, 'listen: { admin: "127.0.0.1:9902" }\n');
    const fromConfig = await runCli(['iptables', 'install', '--mode', 'sidecar', '--proxy-user', '990', '--config', config, '--dry-run']);
    expect(fromConfig.stdout).toContain('-A CHOKEPOINT_FILTER -o lo -p tcp --dport 9902 ');
    const flag = await runCli(['iptables', 'install', '--mode', 'sidecar', '--proxy-user', '990', '--config', config, '--admin-port', '9903', '--dry-run']);
    expect(flag.stdout).toContain('--dport 9903 ');
    const bad = await runCli(['iptables', 'install', '--mode', 'sidecar', '--proxy-user', '990', '--admin-port', 'x', '--dry-run']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/admin port NaN is not a port/);
  });

  it('remove --dry-run prints the removal of everything either mode installs', async () => {
    const result = await runCli(['iptables', 'remove', '--mode', 'sidecar', '--dry-run']);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(`${removePlan().map(renderStep).join('\n')}\n`);
  });

  it('exits 2 with the reason on bad usage', async () => {
    const noUser = await runCli(['iptables', 'install', '--mode', 'sidecar', '--dry-run']);
    expect(noUser.code).toBe(2);
    expect(noUser.stderr).toMatch(/needs --proxy-user/);
    const root = await runCli(['iptables', 'install', '--mode', 'sidecar', '--proxy-user', '0', '--dry-run']);
    expect(root.stderr).toMatch(/must not be root/);
    const unknownUser = await runCli(['iptables', 'install', '--mode', 'sidecar', '--proxy-user', 'no-such-user-cp', '--dry-run']);
    expect(unknownUser.code).toBe(2);
    expect(unknownUser.stderr).toMatch(/no user named "no-such-user-cp"/);
    const mode = await runCli(['iptables', 'install', '--mode', 'router', '--dry-run']);
    expect(mode.code).toBe(2);
    expect(mode.stderr).toMatch(/--mode must be sidecar or gateway/);
    const port = await runCli(['iptables', 'install', '--mode', 'gateway', '--transparent-port', 'x', '--dry-run']);
    expect(port.code).toBe(2);
    expect(port.stderr).toMatch(/transparent port NaN is not a port/);
    const action = await runCli(['iptables', 'flush']);
    expect(action.code).toBe(2);
    expect(action.stderr).toMatch(/usage: chokepoint iptables install\|remove/);
  });
});
