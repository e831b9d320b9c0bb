/**
 * Real OpenSSH through the proxy: `ssh` reaches a real `sshd` through a ProxyCommand that opens a
 * CONNECT or SOCKS5 tunnel, with a key-based login running a command. A rule with `protocols: [ssh]`
 * lets the session through (and the events carry both banners and HASSH); a rule without it gets the
 * session refused before anything is dialled, with the reason printed by `ssh` itself from the
 * proxy's SSH_MSG_DISCONNECT.
 *
 * Needs root (sshd's privilege separation) and OpenSSH installed; skipped with the reason otherwise.
 */
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChokepointEvent } from '../../src/events/types.js';
import { nextEvent } from '../helpers/event-waits.js';
import { startTestProxy, type TestProxy } from '../helpers/proxy.js';
import { DENY_UNKNOWN_POLICY, tempRules, type TempRules } from '../helpers/rules.js';
import { prepareSshClient, startSshServer, type SshServer } from '../helpers/openssh.js';
import { prepareSshLab } from '../unit/inspect/ssh-capture.js';

interface SshResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

const lab = process.getuid?.() === 0 ? prepareSshLab() : { unavailable: 'sshd needs root (privilege separation)' };
const unavailable = 'unavailable' in lab ? lab.unavailable : undefined;
if (unavailable) console.warn(`skipping real OpenSSH through the proxy: ${unavailable}`);

describe.skipIf(unavailable !== undefined)('real OpenSSH through the proxy', () => {
  let dir: string;
  let clientKey: string;
  let scriptPath: string;
  let sshd: SshServer;
  let rules: TempRules;
  let proxy: TestProxy;

  beforeAll(async () => {
    if ('unavailable' in lab) throw new Error(lab.unavailable);
    let authorizedKeys: string;
    ({ dir, clientKey, authorizedKeys, scriptPath } = prepareSshClient('chokepoint-ssh-client-'));
    sshd = await startSshServer(lab, authorizedKeys);

    // ssh.test allows SSH by name; nossh.test is the same server under a rule that lists no protocols,
    // which on a port other than 22 means "anything but SSH".
    rules = await tempRules(DENY_UNKNOWN_POLICY, {
      shell: `agent: shell
identify: { sources: ["127.0.0.1/32"] }
allow:
  - { host: ssh.test, ports: [${sshd.port}], protocols: [ssh] }
  - { host: nossh.test, ports: [${sshd.port}] }
  - { cidr: 127.0.0.1/32, ports: [${sshd.port}] }
`,
    });
    proxy = await startTestProxy(rules.dir, (config) => {
      config.stateDir = path.join(dir, 'state');
      for (const name of ['ssh.test', 'nossh.test']) config.hosts.set(name, ['127.0.0.1']);
    });
  });
  afterAll(async () => {
    await proxy?.stop();
    await sshd?.close();
    await rules?.remove();
    if (dir) rmSync(dir, { recursive: true, force: true });
    if (!('unavailable' in lab)) lab.dispose();
  });

  /** Runs `ssh root@host echo hi` through the proxy with the given tunnel kind. */
  function runSsh(mode: 'connect' | 'socks5', host: string): Promise<SshResult> {
    const proxyPort = mode === 'connect' ? proxy.proxy.http?.port : proxy.socksPort;
    const args = [
      '-F', '/dev/null',
      '-i', clientKey,
      '-o', 'IdentitiesOnly=yes',
      '-o', 'BatchMode=yes',
      '-o', 'StrictHostKeyChecking=no',
      '-o', 'UserKnownHostsFile=/dev/null',
      '-o', 'ConnectTimeout=15',
      '-o', `ProxyCommand=${process.execPath} ${scriptPath} ${mode} ${proxyPort} %h %p`,
      '-p', String(sshd.port),
      `root@${host}`,
      'echo', 'hi',
    ];
    return new Promise((resolve) => {
      const child = spawn('ssh', args, { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
      child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
      const timer = setTimeout(() => child.kill('SIGKILL'), 25_000);
      child.once('close', (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
    });
  }

  const closedFlow = (entry: string, domain: string) => (event: ChokepointEvent): boolean =>
    event.event.action === 'flow.closed' && event.chokepoint.entry === entry && event.destination?.domain === domain;

  describe.each([
    { mode: 'connect' as const, entry: 'connect' },
    { mode: 'socks5' as const, entry: 'socks5' },
  ])('through $mode', ({ mode, entry }) => {
    it('runs a command over SSH where the rule says protocols: [ssh], reporting banners and HASSH', async () => {
      const before = sshd.connections;
      const closed = nextEvent(proxy.log, closedFlow(entry, 'ssh.test'), 25_000);
      const result = await runSsh(mode, 'ssh.test');
      expect(result.stderr).not.toMatch(/chokepoint/);
      expect(result.code).toBe(0);
      expect(result.stdout).toBe('hi\n');
      expect(sshd.connections).toBe(before + 1);

      const event = await closed;
      expect(event.network?.protocol).toBe('ssh');
      const ssh = event.chokepoint.classification?.ssh;
      expect(ssh?.client_banner).toMatch(/^SSH-2\.0-OpenSSH_/);
      expect(ssh?.server_banner).toMatch(/^SSH-2\.0-OpenSSH_/);
      expect(ssh?.hassh).toMatch(/^[0-9a-f]{32}$/);
      expect(ssh?.hassh_server).toMatch(/^[0-9a-f]{32}$/);
      expect(proxy.log.events.some((e) => e.chokepoint.flow_id === event.chokepoint.flow_id && e.event.action.startsWith('detection.'))).toBe(false);
    });

    it('refuses SSH where the rule does not allow it: ssh prints the reason, sshd never sees a connection', async ({ annotate }) => {
      const before = sshd.connections;
      const detected = nextEvent(proxy.log, (e) => e.event.action === 'detection.ssh_not_allowed' && e.chokepoint.entry === entry, 25_000);
      const result = await runSsh(mode, 'nossh.test');
      expect(result.code).not.toBe(0);
      expect(result.stdout).toBe('');
      expect(result.stderr).toMatch(/chokepoint: SSH to nossh\.test:\d+ is not allowed for this agent/);

      const event = await detected;
      expect(event.chokepoint.detection).toMatchObject({ kind: 'ssh_not_allowed', action: 'deny', confidence: 'high' });
      expect(event.chokepoint.detection?.evidence).toMatch(/SSH-2\.0-OpenSSH_/);
      expect(event.chokepoint.detection?.time_to_detect_ms).toBeGreaterThanOrEqual(0);
      expect(event.chokepoint.classification?.ssh?.client_banner).toMatch(/^SSH-2\.0-OpenSSH_/);
      const denied = await proxy.log.waitFor((e) => e.event.action === 'flow.denied' && e.chokepoint.flow_id === event.chokepoint.flow_id);
      expect(denied.rule?.id).toBe('detection.ssh_not_allowed');
      expect(sshd.connections).toBe(before);
      await annotate(`ssh via ${mode}, ssh_not_allowed detected after ${event.chokepoint.detection?.time_to_detect_ms} ms`);
    });
  });
});
