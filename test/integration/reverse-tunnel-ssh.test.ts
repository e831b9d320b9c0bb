/**
 * Reverse tunnels seen from the encrypted phase of real OpenSSH sessions through the proxy.
 *
 * The agent runs `ssh` through a CONNECT or SOCKS5 ProxyCommand to a real `sshd -i` on loopback (the
 * "outside" server). For `ssh -R`, the outside then connects to the forwarded port with a second real
 * `ssh`, which reaches the agent's own sshd through the tunnel: the server opens a forwarded-tcpip
 * channel and an inner SSH session runs inside it. The policy is
 * `reverse_tunnel: { high: deny, medium: alert }`, so the medium remote-forward finding is reported and
 * the flow goes on until a high-confidence finding closes it.
 *
 * False positives: an interactive `ssh -tt` session typed into, `scp`, `git clone` over SSH, `-L` and
 * `-D` forwards must raise no reverse_tunnel detection at all.
 *
 * Needs root (sshd's privilege separation), OpenSSH and git; skipped with the reason otherwise.
 */
import { spawn as spawnChild, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChokepointEvent } from '../../src/events/types.js';
import { nextEvent } from '../helpers/event-waits.js';
import { prepareSshClient, startSshServer, type SshServer } from '../helpers/openssh.js';
import { startTestProxy, type TestProxy } from '../helpers/proxy.js';
import { tempRules, type TempRules } from '../helpers/rules.js';
import { echoUpstream, type Upstream } from '../helpers/upstreams.js';
import { prepareSshLab } from '../unit/inspect/ssh-capture.js';

const lab = process.getuid?.() === 0 ? prepareSshLab() : { unavailable: 'sshd needs root (privilege separation)' };
const missingGit = spawnSync('git', ['--version']).error ? 'git is not installed' : undefined;
const unavailable = 'unavailable' in lab ? lab.unavailable : missingGit;
if (unavailable) console.warn(`skipping reverse-tunnel tests with real OpenSSH: ${unavailable}`);

/** Where the numbers for bench/RESULTS.md are collected (one JSON line per case), when asked for. */
const RESULTS_FILE = process.env.CHOKEPOINT_REVERSE_TUNNEL_RESULTS;

const POLICY = `unknown_agent: deny
require_credentials: false
deny: []
detections:
  reverse_tunnel: { high: deny, medium: alert }
`;

interface Finished {
  code: number | null;
  stdout: string;
  stderr: string;
}

function finished(child: ChildProcess, killAfterMs = 30_000): Promise<Finished> {
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (text: string) => (stdout += text));
  child.stderr?.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Every client the tests start, so that a failing test leaves none running (see afterAll). */
const children = new Set<ChildProcess>();
const spawn: typeof spawnChild = ((...args: Parameters<typeof spawnChild>) => {
  const child = spawnChild(...args);
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}) as typeof spawnChild;

/**
 * Ends a client that has done its part. Waits for the process itself, not its pipes: ssh's ProxyCommand
 * inherits them and may outlive it by a moment.
 */
function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  return exited;
}

describe.skipIf(unavailable !== undefined)('reverse tunnels in real OpenSSH sessions through the proxy', () => {
  let dir: string;
  let clientKey: string;
  let scriptPath: string;
  let outside: SshServer;
  let agentSshd: SshServer;
  let echo: Upstream;
  let rules: TempRules;
  let proxy: TestProxy;
  const results: object[] = [];

  beforeAll(async () => {
    if ('unavailable' in lab) throw new Error(lab.unavailable);
    let authorizedKeys: string;
    ({ dir, clientKey, authorizedKeys, scriptPath } = prepareSshClient('chokepoint-rtun-'));
    // scp speaks SFTP by default since OpenSSH 9.0: the outside serves it in-process.
    outside = await startSshServer(lab, authorizedKeys);
    // The agent's own sshd, which the reverse tunnel exposes to the outside.
    agentSshd = await startSshServer(lab, authorizedKeys);
    echo = await echoUpstream();
    // The auditor agent (127.0.0.2) is only reported on, so its reverse session runs to the end and every
    // finding shows, the inner session and its keystrokes included.
    rules = await tempRules(POLICY, {
      auditor: `agent: auditor
mode: audit
identify: { sources: ["127.0.0.2/32"] }
allow:
  - { host: outside.test, ports: [${outside.port}], protocols: [ssh] }
  - { cidr: 127.0.0.1/32, ports: [${outside.port}], protocols: [ssh] }
`,
      shell: `agent: shell
identify: { sources: ["127.0.0.1/32"] }
allow:
  - { host: outside.test, ports: [${outside.port}], protocols: [ssh] }
  - { cidr: 127.0.0.1/32, ports: [${outside.port}], protocols: [ssh] }
`,
    });
    proxy = await startTestProxy(rules.dir, (config) => {
      config.stateDir = path.join(dir, 'state');
      config.hosts.set('outside.test', ['127.0.0.1']);
    });
  });
  afterAll(async () => {
    await Promise.all([...children].map((child) => stop(child)));
    await proxy?.stop();
    await outside?.close();
    await agentSshd?.close();
    await echo?.close();
    await rules?.remove();
    if (dir) rmSync(dir, { recursive: true, force: true });
    if (!('unavailable' in lab)) lab.dispose();
    if (RESULTS_FILE) writeFileSync(RESULTS_FILE, results.map((line) => JSON.stringify(line)).join('\n') + '\n');
  });

  const baseOptions = (): string[] => [
    '-F', '/dev/null',
    '-i', clientKey,
    '-o', 'IdentitiesOnly=yes',
    '-o', 'BatchMode=yes',
    '-o', 'StrictHostKeyChecking=no',
    '-o', 'UserKnownHostsFile=/dev/null',
  ];
  const viaProxy = (mode: 'connect' | 'socks5', source = ''): string[] => {
    const proxyPort = mode === 'connect' ? proxy.proxy.http?.port : proxy.socksPort;
    return ['-o', `ProxyCommand=${process.execPath} ${scriptPath} ${mode} ${proxyPort} %h %p ${source}`.trimEnd()];
  };
  /** The ssh command line of the agent towards the outside server. */
  const agentSsh = (mode: 'connect' | 'socks5', extra: string[]): string[] => [...baseOptions(), ...viaProxy(mode), '-p', String(outside.port), ...extra];

  const closedFlow = (event: ChokepointEvent): boolean => event.event.action === 'flow.closed' && event.destination?.domain === 'outside.test';
  const reverseTunnelEventsOf = (flowId: string | undefined): ChokepointEvent[] =>
    proxy.log.events.filter((event) => event.event.action === 'detection.reverse_tunnel' && event.chokepoint.flow_id === flowId);

  function record(name: string, expectedReverse: boolean, flowId: string | undefined): void {
    const events = reverseTunnelEventsOf(flowId);
    results.push({
      name,
      expectedReverse,
      detections: events.map((event) => ({
        confidence: event.chokepoint.detection?.confidence,
        action: event.chokepoint.detection?.action,
        timeToDetectMs: event.chokepoint.detection?.time_to_detect_ms,
      })),
    });
  }

  /**
   * `ssh -R 0:127.0.0.1:<agent sshd>` through the proxy; the outside logs in through the allocated port.
   * Returns the events of the flow.
   */
  async function reverseSession(mode: 'connect' | 'socks5', cipherOptions: string[], remoteCommand: string[]): Promise<{ medium?: ChokepointEvent; high: ChokepointEvent; closed: ChokepointEvent }> {
    const closed = nextEvent(proxy.log, closedFlow, 40_000);
    const high = nextEvent(proxy.log, (event) => event.event.action === 'detection.reverse_tunnel' && event.chokepoint.detection?.confidence === 'high', 40_000);
    // Awaited only if the high finding never comes; must not be an unhandled rejection meanwhile.
    closed.catch(() => undefined);
    const agent = spawn('ssh', agentSsh(mode, [...cipherOptions, '-R', `0:127.0.0.1:${agentSshd.port}`, 'root@outside.test', ...remoteCommand]), { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    agent.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    const deadline = Date.now() + 20_000;
    let port: number | undefined;
    while (port === undefined && Date.now() < deadline) {
      port = Number(/Allocated port (\d+) for remote forward/.exec(stderr)?.[1]) || undefined;
      if (port === undefined) await sleep(20);
    }
    if (port === undefined) throw new Error(`ssh -R did not report its allocated port: ${stderr}`);
    // The outside uses the tunnel: an inner SSH login to the agent's own sshd.
    const inner = spawn('ssh', [...baseOptions(), '-p', String(port), 'root@127.0.0.1', 'echo', 'inner'], { stdio: 'ignore' });
    const highEvent = await high;
    const closedEvent = await closed;
    // Cut off mid-handshake, the inner client may wait for bytes that will never come.
    await Promise.all([stop(inner), stop(agent)]);
    const mediumEvent = reverseTunnelEventsOf(highEvent.chokepoint.flow_id).find((event) => event.chokepoint.detection?.confidence === 'medium');
    return { ...(mediumEvent ? { medium: mediumEvent } : {}), high: highEvent, closed: closedEvent };
  }

  describe.each([
    { name: 'aes128-gcm', mode: 'connect' as const, options: ['-c', 'aes128-gcm@openssh.com'], command: ['sleep', '30'] },
    { name: 'chacha20-poly1305', mode: 'socks5' as const, options: ['-c', 'chacha20-poly1305@openssh.com'], command: ['sleep', '30'] },
    { name: 'aes128-ctr + hmac-sha2-256-etm', mode: 'connect' as const, options: ['-c', 'aes128-ctr', '-m', 'hmac-sha2-256-etm@openssh.com'], command: ['sleep', '30'] },
    { name: '-N (chacha20-poly1305)', mode: 'connect' as const, options: ['-N'], command: [] },
  ])('ssh -R with $name', ({ name, mode, options, command }) => {
    it('reports the remote forward and the server-opened channel, and the high finding closes the flow', async () => {
      const { medium, high, closed } = await reverseSession(mode, options, command);
      record(`ssh -R ${name}`, true, high.chokepoint.flow_id);
      expect(high.chokepoint.detection).toMatchObject({ kind: 'reverse_tunnel', confidence: 'high', action: 'deny' });
      expect(high.chokepoint.enforced).toBe(true);
      expect(high.chokepoint.detection?.evidence).toMatch(/server opened a channel|SSH session runs inside/);
      // The remote-forward request itself (medium, alert) comes first where the sizes show it.
      if (medium) {
        expect(medium.chokepoint.detection).toMatchObject({ kind: 'reverse_tunnel', action: 'alert' });
        expect(medium.chokepoint.detection?.evidence).toMatch(/tcpip-forward/);
      }
      // The proxy closed the flow because of it.
      expect(closed.chokepoint.flow_id).toBe(high.chokepoint.flow_id);
      expect(closed.rule?.id).toBe('detection.reverse_tunnel');
      expect(closed.event.outcome).toBe('failure');
    }, 45_000);
  });

  it('names the remote forward of ssh -R at medium confidence with exact framing (aes128-gcm)', async () => {
    const detected = nextEvent(proxy.log, (event) => event.event.action === 'detection.reverse_tunnel', 20_000);
    const closed = nextEvent(proxy.log, closedFlow, 20_000);
    // Nothing ever connects to the forward: only the request right after authentication can tell.
    const agent = spawn('ssh', agentSsh('connect', ['-c', 'aes128-gcm@openssh.com', '-N', '-o', 'ExitOnForwardFailure=yes', '-R', `0:127.0.0.1:${agentSshd.port}`, 'root@outside.test']), { stdio: 'ignore' });
    const event = await detected;
    expect(event.chokepoint.detection).toMatchObject({ kind: 'reverse_tunnel', confidence: 'medium', action: 'alert' });
    expect(event.chokepoint.detection?.evidence).toMatch(/tcpip-forward-sized request \(\d+ bytes\)/);
    record('ssh -N -R aes128-gcm, forward unused', true, event.chokepoint.flow_id);
    await stop(agent);
    await closed;
  });

  it('follows a whole reverse session of an audited agent: forward, server-opened channel, inner SSH, wrapped keystrokes', async () => {
    const closed = nextEvent(proxy.log, (event) => closedFlow(event) && event.chokepoint.agent === 'auditor', 40_000);
    const keystrokes = nextEvent(proxy.log, (event) => event.event.action === 'detection.reverse_tunnel' && /wrapped SSH keystroke/.test(event.chokepoint.detection?.evidence ?? ''), 40_000);
    const agent = spawn('ssh', [...baseOptions(), ...viaProxy('connect', '127.0.0.2'), '-p', String(outside.port), '-N', '-R', `0:127.0.0.1:${agentSshd.port}`, 'root@outside.test'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    agent.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    let port: number | undefined;
    for (let waited = 0; port === undefined && waited < 400; waited++) {
      port = Number(/Allocated port (\d+) for remote forward/.exec(stderr)?.[1]) || undefined;
      if (port === undefined) await sleep(50);
    }
    if (port === undefined) throw new Error(`ssh -R did not report its allocated port: ${stderr}`);
    // The outside logs in through the tunnel and types, one key at a time, into the agent's own shell.
    const inner = spawn('ssh', [...baseOptions(), '-tt', '-p', String(port), 'root@127.0.0.1'], { stdio: ['pipe', 'pipe', 'pipe'] });
    const innerExit = finished(inner);
    await sleep(1000);
    for (const character of 'echo reverse-$((6*7))\n') {
      inner.stdin.write(character);
      await sleep(40);
    }
    const keystrokeEvent = await keystrokes;
    inner.stdin.write('exit\n');
    const innerResult = await innerExit;
    expect(innerResult.stdout).toContain('reverse-42');
    await stop(agent);
    const flowId = (await closed).chokepoint.flow_id;
    expect(keystrokeEvent.chokepoint.flow_id).toBe(flowId);
    const findings = reverseTunnelEventsOf(flowId).map((event) => event.chokepoint.detection);
    record('ssh -N -R, inner interactive session (audit)', true, flowId);
    expect(findings.map((finding) => finding?.evidence.split(' ').slice(0, 3).join(' '))).toEqual([
      'client sent a',
      'after the tcpip-forward',
      'an SSH session',
      expect.stringMatching(/^\d+ server-initiated \d+-byte/),
    ]);
    expect(findings.map((finding) => finding?.confidence).slice(0, 3)).toEqual(['medium', 'high', 'high']);
    expect(findings.every((finding) => finding?.kind === 'reverse_tunnel')).toBe(true);
    // Audited: reported with the action the policy names, never enforced.
    expect(reverseTunnelEventsOf(flowId).every((event) => event.chokepoint.enforced === false)).toBe(true);
  }, 45_000);

  /** Runs a command to completion through the proxy and returns the flow's close event. */
  async function benignFlow(name: string, run: () => Promise<void>): Promise<ChokepointEvent> {
    const closed = nextEvent(proxy.log, closedFlow, 40_000);
    await run();
    const event = await closed;
    record(name, false, event.chokepoint.flow_id);
    expect(reverseTunnelEventsOf(event.chokepoint.flow_id)).toEqual([]);
    return event;
  }

  it('raises nothing for an interactive session typed into (ssh -tt)', async () => {
    const event = await benignFlow('interactive ssh -tt', async () => {
      const child = spawn('ssh', agentSsh('connect', ['-tt', 'root@outside.test']), { stdio: ['pipe', 'pipe', 'pipe'] });
      const done = finished(child);
      await sleep(500);
      for (const line of ['echo typed-$((6*7))', 'ls /', 'exit']) {
        for (const character of `${line}\n`) {
          child.stdin.write(character);
          await sleep(25);
        }
        await sleep(200);
      }
      const result = await done;
      expect(result.stdout, result.stderr).toContain('typed-42');
    });
    expect(event.network?.protocol).toBe('ssh');
  });

  it('raises nothing for scp of a file', async () => {
    const source = path.join(dir, 'payload.bin');
    writeFileSync(source, Buffer.alloc(256 * 1024, 'x'));
    const target = path.join(dir, 'copied.bin');
    await benignFlow('scp upload', async () => {
      const child = spawn('scp', [...baseOptions(), ...viaProxy('socks5'), '-P', String(outside.port), source, `root@outside.test:${target}`], { stdio: ['ignore', 'pipe', 'pipe'] });
      const result = await finished(child);
      expect(result.code, result.stderr).toBe(0);
    });
    expect(readFileSync(target).length).toBe(256 * 1024);
  });

  it('raises nothing for git clone over SSH', async () => {
    const bare = path.join(dir, 'repo.git');
    const work = path.join(dir, 'work');
    const env = { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@example.test', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@example.test', GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1' };
    mkdirSync(work);
    for (const args of [['init', '-q', '--bare', bare], ['init', '-q', work]]) expect(spawnSync('git', args, { env }).status).toBe(0);
    writeFileSync(path.join(work, 'README'), 'hello through the proxy\n'.repeat(200));
    for (const args of [['add', 'README'], ['commit', '-qm', 'first'], ['push', '-q', bare, 'HEAD:refs/heads/main']]) {
      const step = spawnSync('git', ['-C', work, ...args], { env });
      expect(step.status, step.stderr.toString()).toBe(0);
    }
    const clone = path.join(dir, 'clone');
    const sshCommand = ['ssh', ...agentSsh('connect', [])].map((word) => `'${word}'`).join(' ');
    await benignFlow('git clone', async () => {
      const child = spawn('git', ['clone', '-q', '-b', 'main', `ssh://root@outside.test:${outside.port}${bare}`, clone], { env: { ...env, GIT_SSH_COMMAND: sshCommand }, stdio: ['ignore', 'pipe', 'pipe'] });
      const result = await finished(child);
      expect(result.code, result.stderr).toBe(0);
    });
    expect(readFileSync(path.join(clone, 'README'), 'utf8')).toContain('hello through the proxy');
  });

  /** A free loopback port for ssh to listen on (-L / -D). */
  async function freePort(): Promise<number> {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    if (address === null || typeof address === 'string') throw new Error('no port');
    return address.port;
  }

  /** Connects (retrying while ssh sets up its listener), sends through `greeting`, expects the echo. */
  async function echoThrough(port: number, greeting: Buffer, expected: string): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        const reply = await new Promise<string>((resolve, reject) => {
          const socket = net.connect(port, '127.0.0.1');
          let received = '';
          socket.on('connect', () => socket.write(greeting));
          socket.on('data', (chunk) => {
            received += chunk.toString('latin1');
            if (received.includes(expected)) {
              socket.end();
              resolve(received);
            }
          });
          socket.on('error', reject);
          socket.on('close', () => reject(new Error(`closed after ${JSON.stringify(received)}`)));
        });
        expect(reply).toContain(expected);
        return;
      } catch (error) {
        if (attempt > 100) throw error;
        await sleep(50);
      }
    }
  }

  it('raises nothing for a local forward (ssh -L): the agent reaching out is not a reverse tunnel', async () => {
    const port = await freePort();
    await benignFlow('ssh -L', async () => {
      const child = spawn('ssh', agentSsh('connect', ['-N', '-L', `${port}:127.0.0.1:${echo.port}`, 'root@outside.test']), { stdio: 'ignore' });
      await echoThrough(port, Buffer.from('through -L\n'), 'through -L');
      await stop(child);
    });
  });

  it('raises nothing for a dynamic forward (ssh -D)', async () => {
    const port = await freePort();
    await benignFlow('ssh -D', async () => {
      const child = spawn('ssh', agentSsh('socks5', ['-N', '-D', `127.0.0.1:${port}`, 'root@outside.test']), { stdio: 'ignore' });
      const portBytes = Buffer.alloc(2);
      portBytes.writeUInt16BE(echo.port);
      // SOCKS5: no-auth greeting and a CONNECT to the echo server, then the payload, all in one write.
      const greeting = Buffer.concat([Buffer.from([5, 1, 0, 5, 1, 0, 1, 127, 0, 0, 1]), portBytes, Buffer.from('through -D\n')]);
      await echoThrough(port, greeting, 'through -D');
      await stop(child);
    });
  });
});
