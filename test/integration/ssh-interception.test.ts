/**
 * SSH interception (`intercept: ssh`) with real OpenSSH and git: the agent's `ssh` (through a CONNECT or
 * SOCKS5 ProxyCommand) talks to Chokepoint's SSH server, pinned by the agent through known_hosts;
 * Chokepoint logs in to a real `sshd` as root with a key only it holds (the agent has no key at all),
 * over a pinned host key, and relays the session. Forwarding of every kind is refused and the checks
 * look at the far side (a canary listener, the port a -R would have opened, sshd's own debug log) to
 * prove that nothing was forwarded.
 *
 * Needs root (sshd's privilege separation), OpenSSH and git; skipped with the reason otherwise.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import ssh2 from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sshFingerprint } from '../../src/intercept/ssh/fingerprint.js';
import { MAX_SESSIONS_PER_CONNECTION } from '../../src/intercept/ssh/interceptor.js';
import type { ChokepointEvent } from '../../src/events/types.js';
import { eventually } from '../helpers/event-waits.js';
import { PROXY_COMMAND_SCRIPT, runProgram, startProgram, startSshServer, type ProgramResult, type SshServer } from '../helpers/openssh.js';
import { startTestProxy, type TestProxy } from '../helpers/proxy.js';
import { DENY_UNKNOWN_POLICY, tempRules, type TempRules } from '../helpers/rules.js';
import { tcpUpstream, type Upstream } from '../helpers/upstreams.js';
import { prepareSshLab } from '../unit/inspect/ssh-capture.js';

const lab = process.getuid?.() === 0 ? prepareSshLab() : { unavailable: 'sshd needs root (privilege separation)' };
const gitMissing = spawnSync('git', ['--version']).error ? 'git is not installed' : undefined;
const unavailable = 'unavailable' in lab ? lab.unavailable : gitMissing;
if (unavailable) console.warn(`skipping SSH interception with real OpenSSH: ${unavailable}`);

function run(command: string, args: string[], cwd?: string): string {
  const result = spawnSync(command, args, { encoding: 'utf8', ...(cwd ? { cwd } : {}) });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed: ${result.stderr}`);
  return result.stdout;
}

/** A port nothing listens on right now (bound, then released). */
async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  return address.port;
}

function connectOutcome(port: number): Promise<'connected' | 'refused'> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => (socket.destroy(), resolve('connected')));
    socket.once('error', () => resolve('refused'));
  });
}

/** Small enough that an upload crosses it, large enough for the SSH handshake and login. */
const METERED_BUDGET_BYTES = 64 * 1024;

describe.skipIf(unavailable !== undefined)('SSH interception with real OpenSSH and git', () => {
  let dir: string;
  let certsDir: string;
  let sshd: SshServer;
  let sshdLog: string;
  let canary: Upstream;
  let rules: TempRules;
  let proxy: TestProxy;
  let scriptPath: string;
  let knownHosts: string;
  let upstreamKey: string;
  let bareRepo: string;
  let unreachablePort: number;
  let proxyFingerprint: string;
  let agentYaml: string;

  beforeAll(async () => {
    if ('unavailable' in lab) throw new Error(lab.unavailable);
    dir = mkdtempSync(path.join(tmpdir(), 'chokepoint-ssh-intercept-'));
    certsDir = path.join(dir, 'certs');
    mkdirSync(path.join(certsDir, 'ssh'), { recursive: true });
    // The key the proxy logs in with; the agent never has it.
    upstreamKey = path.join(certsDir, 'ssh', 'upstream');
    run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', upstreamKey]);
    // The right key in a file others may read: refused like ssh refuses it.
    writeFileSync(path.join(certsDir, 'ssh', 'loose'), readFileSync(upstreamKey), { mode: 0o644 });
    chmodSync(path.join(certsDir, 'ssh', 'loose'), 0o644);
    // A key the server does not accept, for the failed-login case.
    run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(certsDir, 'ssh', 'stranger')]);
    const authorizedKeys = path.join(dir, 'authorized_keys');
    writeFileSync(authorizedKeys, readFileSync(`${upstreamKey}.pub`));
    sshdLog = path.join(dir, 'sshd.log');
    writeFileSync(sshdLog, '');
    // BASH_ENV accepted: a (careless) server on which an environment variable runs code before the
    // command. More sessions than the proxy allows: the proxy's own bound is what a test meets.
    sshd = await startSshServer(lab, authorizedKeys, { logFile: sshdLog, extraOptions: ['-o', 'AcceptEnv=BASH_ENV', '-o', 'MaxSessions=30'] });
    const sshdHostKey = run('ssh-keygen', ['-lf', path.join(path.dirname(lab.sshdConfig), 'host_ed25519.pub')]).split(' ')[1] ?? '';
    const wrongHostKey = `SHA256:${'A'.repeat(43)}`;
    canary = await tcpUpstream((socket) => socket.end('canary\n'));
    unreachablePort = await freePort();

    // A bare repository with one commit, served by the real sshd.
    bareRepo = path.join(dir, 'repo.git');
    run('git', ['init', '-q', '--bare', '-b', 'main', bareRepo]);
    const seed = path.join(dir, 'seed');
    run('git', ['init', '-q', '-b', 'main', seed]);
    writeFileSync(path.join(seed, 'README'), 'first\n');
    run('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', 'add', 'README'], seed);
    run('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-q', '-m', 'first'], seed);
    run('git', ['push', '-q', bareRepo, 'main'], seed);

    const intercept = (hostKey: string, exec?: string, key = 'ssh/upstream') =>
      `intercept: ssh\n    ssh: { user: root, key: ${key}, host_key_sha256: "${hostKey}"${exec ? `, exec: ${exec}` : ''} }`;
    agentYaml = `agent: shell
identify: { sources: ["127.0.0.1/32"] }
allow:
  - host: git.test
    ports: [${sshd.port}]
    ${intercept(sshdHostKey, '[git-upload-pack, git-receive-pack, echo]')}
  - host: open.test
    ports: [${sshd.port}]
    ${intercept(sshdHostKey)}
  - host: sftp.test
    ports: [${sshd.port}]
    intercept: ssh
    ssh: { user: root, key: ssh/upstream, host_key_sha256: "${sshdHostKey}", subsystems: [sftp] }
  - host: impostor.test
    ports: [${sshd.port}]
    ${intercept(wrongHostKey)}
  - host: stranger.test
    ports: [${sshd.port}]
    ${intercept(sshdHostKey, undefined, 'ssh/stranger')}
  - host: loose.test
    ports: [${sshd.port}]
    ${intercept(sshdHostKey, undefined, 'ssh/loose')}
  - host: nokey.test
    ports: [${sshd.port}]
    ${intercept(sshdHostKey, undefined, 'ssh/missing')}
  - host: down.test
    ports: [${unreachablePort}]
    ${intercept(sshdHostKey)}
  - { cidr: 127.0.0.1/32, ports: [${sshd.port}, ${unreachablePort}] }
`;
    // An audit-mode agent (second loopback source): nothing it does is blocked, yet its bytes on an
    // intercepting rule are never relayed raw.
    const auditorYaml = `agent: auditor
mode: audit
identify: { sources: ["127.0.0.2/32"] }
allow:
  - host: open.test
    ports: [${sshd.port}]
    ${intercept(sshdHostKey)}
  - { cidr: 127.0.0.1/32, ports: [${sshd.port}] }
`;
    // An agent with a bytes_out budget (third loopback source): what it sends through an intercepted
    // session is metered like a relayed tunnel's bytes.
    const meteredYaml = `agent: metered
identify: { sources: ["127.0.0.3/32"] }
allow:
  - host: open.test
    ports: [${sshd.port}]
    ${intercept(sshdHostKey)}
  - { cidr: 127.0.0.1/32, ports: [${sshd.port}] }
budgets:
  bytes_out: { limit: ${METERED_BUDGET_BYTES}, window: 1h, action: deny }
`;
    rules = await tempRules(DENY_UNKNOWN_POLICY, { shell: agentYaml, auditor: auditorYaml, metered: meteredYaml });
    proxy = await startTestProxy(rules.dir, (config) => {
      config.stateDir = path.join(dir, 'state');
      config.certsDir = certsDir;
      for (const name of ['git.test', 'open.test', 'sftp.test', 'loose.test', 'impostor.test', 'stranger.test', 'nokey.test', 'down.test']) config.hosts.set(name, ['127.0.0.1']);
    });
    // The agent pins Chokepoint's host key, announced (fingerprint and public key) at start.
    const announced = await proxy.log.waitFor((event) => event.event.action === 'ssh.host_key');
    proxyFingerprint = String(announced.chokepoint.details?.fingerprint);
    knownHosts = path.join(dir, 'known_hosts');
    writeFileSync(knownHosts, `chokepoint ${String(announced.chokepoint.details?.public_key)}\n`);
    scriptPath = path.join(dir, 'proxy-command.cjs');
    writeFileSync(scriptPath, PROXY_COMMAND_SCRIPT);
  });
  afterAll(async () => {
    await proxy?.stop();
    await sshd?.close();
    await canary?.close();
    await rules?.remove();
    if (dir) rmSync(dir, { recursive: true, force: true });
    if (!('unavailable' in lab)) lab.dispose();
  });

  /** ssh options of the agent: no key of its own, Chokepoint's host key pinned, through the proxy. */
  function sshOptions(mode: 'connect' | 'socks5' = 'connect', port = sshd.port): string[] {
    const proxyPort = mode === 'connect' ? proxy.proxy.http?.port : proxy.socksPort;
    return [
      '-F', '/dev/null',
      '-o', 'BatchMode=yes',
      '-o', 'IdentityFile=/dev/null',
      '-o', 'StrictHostKeyChecking=yes',
      '-o', `UserKnownHostsFile=${knownHosts}`,
      '-o', 'HostKeyAlias=chokepoint',
      '-o', 'ConnectTimeout=20',
      '-o', `ProxyCommand=${process.execPath} ${scriptPath} ${mode} ${proxyPort} %h %p`,
      '-p', String(port),
    ];
  }

  function ssh(host: string, command: string[], extraOptions: string[] = [], input?: string, env?: NodeJS.ProcessEnv): Promise<ProgramResult> {
    return runProgram('ssh', [...sshOptions(), ...extraOptions, `agent@${host}`, ...command], { ...(input === undefined ? {} : { input }), ...(env ? { env } : {}) });
  }

  function git(args: string[], cwd?: string): Promise<ProgramResult> {
    const quoted = sshOptions().map((option) => `'${option}'`).join(' ');
    return runProgram('git', args, { cwd: cwd ?? dir, env: { ...process.env, GIT_SSH_COMMAND: `ssh ${quoted}`, GIT_TERMINAL_PROMPT: '0' } });
  }

  const acceptedLogins = (): number => (readFileSync(sshdLog, 'utf8').match(/Accepted publickey for root/g) ?? []).length;
  const eventsNamed = (name: string, match: (event: ChokepointEvent) => boolean = () => true): ChokepointEvent[] => proxy.log.named(name).filter(match);

  it.each(['connect', 'socks5'] as const)('runs an allowed exec through %s with the proxy-held key; the agent has none', async (mode) => {
    const logins = acceptedLogins();
    const result = await runProgram('ssh', [...sshOptions(mode), 'agent@git.test', 'echo', 'hi']);
    expect(result.stderr).not.toMatch(/chokepoint/);
    expect(result.stdout).toBe('hi\n');
    expect(result.code).toBe(0);
    expect(acceptedLogins()).toBe(logins + 1);
    const command = await proxy.log.waitFor((e) => e.event.action === 'ssh.command' && e.chokepoint.entry === mode);
    expect(command.chokepoint.details?.ssh).toMatchObject({ request: 'exec', command: 'echo hi', agent_user: 'agent', upstream_user: 'root' });
  });

  it('relays the exit status and stderr of the upstream program', async () => {
    const result = await ssh('open.test', ['sh', '-c', "'echo out; echo err >&2; exit 7'"]);
    expect(result.stdout).toBe('out\n');
    expect(result.stderr).toContain('err\n');
    expect(result.code).toBe(7);
  });

  it('passes stdin and its EOF to the upstream program (a half-close, not a close)', async () => {
    const result = await ssh('open.test', ['sh', '-c', "'cat; echo after-eof'"], [], 'line one\nline two\n');
    expect(result.stdout).toBe('line one\nline two\nafter-eof\n');
    expect(result.code).toBe(0);
  });

  it('relays an interactive shell on a pty with its size and environment', async () => {
    const result = await ssh(
      'open.test',
      [],
      ['-tt', '-o', 'SetEnv=CHOKEPOINT_PROBE=relayed'],
      'echo "size=$(stty size)"; echo "term=$TERM"; echo "probe=$CHOKEPOINT_PROBE"; exit 3\n',
      { ...process.env, TERM: 'vt100' },
    );
    expect(result.code).toBe(3);
    // stty only answers on a terminal: the upstream shell has a pty.
    expect(result.stdout).toMatch(/size=\d+ \d+/);
    expect(result.stdout).toMatch(/term=vt100/);
    expect(result.stdout).toMatch(/probe=relayed/);
    const shell = await proxy.log.waitFor((e) => e.event.action === 'ssh.command' && (e.chokepoint.details?.ssh as { request?: string } | undefined)?.request === 'shell');
    expect(shell.destination?.domain).toBe('open.test');
  });

  /** An ssh2 client (for requests OpenSSH cannot be scripted to send) through a CONNECT tunnel. */
  async function ssh2Through(host: string): Promise<ssh2.Client> {
    const socket = net.connect(proxy.proxy.http?.port ?? 0, '127.0.0.1');
    socket.write(`CONNECT ${host}:${sshd.port} HTTP/1.1\r\nHost: ${host}:${sshd.port}\r\n\r\n`);
    let head = Buffer.alloc(0);
    await new Promise<void>((resolve, reject) => {
      const onData = (chunk: Buffer): void => {
        head = Buffer.concat([head, chunk]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) return;
        socket.off('data', onData);
        socket.pause();
        if (!head.subarray(0, end).toString('latin1').startsWith('HTTP/1.1 200')) return reject(new Error(head.toString('latin1')));
        if (head.length > end + 4) socket.unshift(head.subarray(end + 4));
        resolve();
      };
      socket.on('data', onData);
      socket.once('error', reject);
    });
    const client = new ssh2.Client();
    await new Promise<void>((resolve, reject) => {
      client.once('ready', () => resolve());
      client.once('error', reject);
      client.connect({ sock: socket, username: 'agent', hostVerifier: (key: Buffer) => sshFingerprint(key) === proxyFingerprint });
    });
    return client;
  }

  it('relays window changes and signal requests (ssh2 as the agent client)', async () => {
    const client = await ssh2Through('open.test');
    try {
      const size = await new Promise<string>((resolve, reject) => {
        client.shell({ rows: 30, cols: 100, term: 'vt100' }, (error, channel) => {
          if (error) return reject(error);
          let output = '';
          channel.on('data', (chunk: Buffer) => (output += chunk.toString()));
          channel.on('close', () => resolve(output));
          channel.setWindow(41, 121, 0, 0);
          channel.write('echo "size=$(stty size)"; exit 0\n');
        });
      });
      expect(size).toMatch(/size=41 121/);

      // sshd in inetd mode (-i) cannot deliver signals ("session signalling requires privilege
      // separation"), so the proof is sshd's own log of the relayed request.
      const signalsLogged = (): number => (readFileSync(sshdLog, 'utf8').match(/req signal/g) ?? []).length;
      const before = signalsLogged();
      await new Promise<void>((resolve, reject) => {
        client.exec('echo started; exec sleep 30', (error, channel) => {
          if (error) return reject(error);
          channel.on('data', (chunk: Buffer) => {
            if (!chunk.toString().includes('started')) return;
            channel.signal('TERM');
            resolve();
          });
        });
      });
      await eventually(() => signalsLogged() > before, 'sshd logging the relayed signal request');
    } finally {
      client.end();
    }
  });

  it('bounds the sessions open at once on one connection; a closed one frees its place', async () => {
    const client = await ssh2Through('open.test');
    /** An exec on a new session channel: its channel once the program printed, or the open's error. */
    const execStarted = (command: string): Promise<ssh2.ClientChannel | Error> =>
      new Promise((resolve) => {
        client.exec(command, (error, channel) => {
          if (error) return resolve(error);
          channel.on('data', (chunk: Buffer) => {
            if (chunk.toString().includes('started')) resolve(channel);
          });
          channel.stderr.on('data', (chunk: Buffer) => resolve(new Error(chunk.toString())));
        });
      });
    try {
      const open: ssh2.ClientChannel[] = [];
      for (let index = 0; index < MAX_SESSIONS_PER_CONNECTION; index += 1) {
        const channel = await execStarted('echo started; exec sleep 30');
        if (channel instanceof Error) throw channel;
        open.push(channel);
      }
      const refused = await execStarted('echo started');
      expect(refused).toBeInstanceOf(Error);
      expect((refused as Error).message).toMatch(/chokepoint: at most 10 sessions may be open at once on one connection/);
      const event = await proxy.log.waitFor((e) => e.event.action === 'ssh.refused' && (e.chokepoint.details?.ssh as { request?: string } | undefined)?.request === 'session');
      expect(event.destination?.domain).toBe('open.test');

      const first = open.shift();
      const closed = new Promise<void>((resolve) => first?.once('close', () => resolve()));
      first?.close();
      await closed;
      const again = await execStarted('echo started');
      expect(again).not.toBeInstanceOf(Error);
    } finally {
      client.end();
    }
  });

  it('relays the sftp subsystem: put and get of a file', async () => {
    const local = path.join(dir, 'sftp-local.txt');
    const remote = path.join(dir, 'sftp-remote.txt');
    const back = path.join(dir, 'sftp-back.txt');
    writeFileSync(local, 'through sftp\n');
    const batch = path.join(dir, 'sftp-batch');
    writeFileSync(batch, `put ${local} ${remote}\nget ${remote} ${back}\n`);
    const options = sshOptions().filter((option, index, all) => option !== '-p' && all[index - 1] !== '-p');
    const result = await runProgram('sftp', [...options, '-P', String(sshd.port), '-b', batch, 'agent@open.test']);
    expect(result.stderr).not.toMatch(/chokepoint/);
    expect(result.code).toBe(0);
    expect(readFileSync(remote, 'utf8')).toBe('through sftp\n');
    expect(readFileSync(back, 'utf8')).toBe('through sftp\n');
  });

  it('an sftp-only rule (subsystems, no exec) runs sftp but no exec and no shell', async () => {
    const options = sshOptions().filter((option, index, all) => option !== '-p' && all[index - 1] !== '-p');
    const sftp = await runProgram('sftp', [...options, '-P', String(sshd.port), '-b', '/dev/null', 'agent@sftp.test']);
    expect(sftp.stderr).not.toMatch(/chokepoint/);
    expect(sftp.code).toBe(0);
    const marker = path.join(dir, 'sftp-only-exec');
    const exec = await ssh('sftp.test', ['touch', marker]);
    expect(exec.code).toBe(126);
    expect(exec.stderr).toMatch(/chokepoint: command "touch" is not allowed here; allowed: no exec; subsystems: sftp/);
    expect(existsSync(marker)).toBe(false);
    const shell = await ssh('sftp.test', [], ['-T']);
    expect(shell.code).toBe(126);
    expect(shell.stderr).toMatch(/chokepoint: an interactive shell is not allowed here/);
  });

  it('refuses the sftp subsystem where exec is restricted', async () => {
    const options = sshOptions().filter((option, index, all) => option !== '-p' && all[index - 1] !== '-p');
    const result = await runProgram('sftp', [...options, '-P', String(sshd.port), '-b', '/dev/null', 'agent@git.test']);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/chokepoint: subsystem "sftp" is not allowed here/);
  });

  it('git clone and git push of a bare repository work through interception', async ({ annotate }) => {
    const clone = path.join(dir, 'clone');
    const cloned = await git(['clone', '-q', `ssh://agent@git.test:${sshd.port}${bareRepo}`, clone]);
    expect(cloned.stderr).not.toMatch(/chokepoint|fatal/);
    expect(cloned.code).toBe(0);
    expect(readFileSync(path.join(clone, 'README'), 'utf8')).toBe('first\n');

    writeFileSync(path.join(clone, 'SECOND'), 'second\n');
    run('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', 'add', 'SECOND'], clone);
    run('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-q', '-m', 'second'], clone);
    const pushed = await git(['push', '-q', 'origin', 'main'], clone);
    expect(pushed.stderr).not.toMatch(/chokepoint|fatal/);
    expect(pushed.code).toBe(0);
    expect(run('git', ['--git-dir', bareRepo, 'log', '--format=%s', 'main'])).toBe('second\nfirst\n');
    const commands = eventsNamed('ssh.command').map((e) => String((e.chokepoint.details?.ssh as { command?: string } | undefined)?.command));
    expect(commands).toContain(`git-upload-pack '${bareRepo}'`);
    expect(commands).toContain(`git-receive-pack '${bareRepo}'`);
    await annotate('git clone + push through SSH interception');
  });

  it('carries a large repository intact (flow control both ways); clone time direct vs intercepted', async ({ annotate }) => {
    // 8 MiB of incompressible content in one commit.
    const bigSeed = path.join(dir, 'big-seed');
    const bigBare = path.join(dir, 'big.git');
    run('git', ['init', '-q', '-b', 'main', bigSeed]);
    run('git', ['init', '-q', '--bare', '-b', 'main', bigBare]);
    run('sh', ['-c', `head -c 8388608 /dev/urandom > '${path.join(bigSeed, 'blob')}'`]);
    run('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', 'add', 'blob'], bigSeed);
    run('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-q', '-m', 'big'], bigSeed);
    run('git', ['push', '-q', bigBare, 'main'], bigSeed);
    const want = run('git', ['--git-dir', bigBare, 'rev-parse', 'main:blob']);

    const direct = ['-F', '/dev/null', '-o', 'BatchMode=yes', '-i', upstreamKey, '-o', 'IdentitiesOnly=yes', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null'];
    const timings: Record<'direct' | 'intercepted', number[]> = { direct: [], intercepted: [] };
    for (let round = 0; round < 3; round += 1) {
      for (const way of ['direct', 'intercepted'] as const) {
        const target = path.join(dir, `big-${way}-${round}`);
        const started = process.hrtime.bigint();
        const result =
          way === 'direct'
            ? await runProgram('git', ['clone', '-q', `ssh://root@127.0.0.1:${sshd.port}${bigBare}`, target], {
                env: { ...process.env, GIT_SSH_COMMAND: `ssh ${direct.map((option) => `'${option}'`).join(' ')}` },
              })
            : await git(['clone', '-q', `ssh://agent@git.test:${sshd.port}${bigBare}`, target]);
        timings[way].push(Number(process.hrtime.bigint() - started) / 1e6);
        expect(result.stderr).not.toMatch(/fatal|chokepoint/);
        expect(result.code).toBe(0);
        expect(run('git', ['hash-object', path.join(target, 'blob')])).toBe(want);
        rmSync(target, { recursive: true, force: true });
      }
    }
    const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;
    await annotate(`git clone of an 8 MiB repository, median of 3: direct ${median(timings.direct).toFixed(0)} ms, through SSH interception ${median(timings.intercepted).toFixed(0)} ms`);
  });

  it('refuses an exec outside the allowlist with readable text and exit status 126; nothing runs upstream', async () => {
    const logins = acceptedLogins();
    const marker = path.join(dir, 'should-not-exist');
    const result = await ssh('git.test', ['touch', marker]);
    expect(result.code).toBe(126);
    expect(result.stderr).toMatch(/chokepoint: command "touch" is not allowed here; allowed: exec of git-upload-pack, git-receive-pack, echo/);
    expect(() => readFileSync(marker)).toThrow();
    // The proxy's login happened (before the agent was served), the command did not.
    expect(acceptedLogins()).toBe(logins + 1);
    const refused = await proxy.log.waitFor((e) => e.event.action === 'ssh.refused' && (e.chokepoint.details?.ssh as { command?: string } | undefined)?.command === `touch ${marker}`);
    expect(refused.event.kind).toBe('alert');
    expect(refused.chokepoint.action).toBe('deny');
  });

  it('refuses shell syntax after an allowed command (sshd would hand it to a shell)', async () => {
    const marker = path.join(dir, 'injected');
    const result = await ssh('git.test', [`echo hi; touch ${marker}`]);
    expect(result.code).toBe(126);
    expect(result.stderr).toMatch(/chokepoint: the arguments of echo may be single-quoted strings or plain words only/);
    expect(result.stdout).toBe('');
    expect(() => readFileSync(marker)).toThrow();
  });

  it('refuses an interactive shell where exec is restricted', async () => {
    const result = await ssh('git.test', [], ['-T']);
    expect(result.code).toBe(126);
    expect(result.stderr).toMatch(/chokepoint: an interactive shell is not allowed here/);
  });

  it('passes no code-running environment variable (BASH_ENV) where exec is restricted; open sessions pass it', async () => {
    const payload = path.join(dir, 'bash-env-payload');
    const marker = path.join(dir, 'bash-env-ran');
    writeFileSync(payload, `touch '${marker}'\n`);
    const result = await ssh('git.test', ['echo', 'hi'], ['-o', `SetEnv=BASH_ENV=${payload}`, '-o', 'SetEnv=LANG=C.UTF-8']);
    expect(result.stdout).toBe('hi\n');
    expect(result.code).toBe(0);
    expect(existsSync(marker)).toBe(false);
    const refused = await proxy.log.waitFor((e) => e.event.action === 'ssh.refused' && (e.chokepoint.details?.ssh as { request?: string } | undefined)?.request === 'env');
    expect(refused.event.reason).toMatch(/environment variable BASH_ENV is not passed upstream where the session is restricted/);
    // The same request where the session is unrestricted reaches the server: the test server honours it.
    const open = await ssh('open.test', ['echo', 'hi'], ['-o', `SetEnv=BASH_ENV=${payload}`]);
    expect(open.code).toBe(0);
    expect(existsSync(marker)).toBe(true);
  });

  it('refuses ssh -R as a reverse_tunnel detection: no listener upstream, the agent reads why', async () => {
    const remotePort = await freePort();
    const result = await ssh('open.test', ['echo', 'hi'], ['-R', `127.0.0.1:${remotePort}:127.0.0.1:${canary.port}`]);
    expect(result.code).toBe(255);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/chokepoint: remote port forwarding \(ssh -R 127\.0\.0\.1:\d+\) is not allowed, so this connection is refused/);
    const detection = await proxy.log.waitFor((e) => e.event.action === 'detection.reverse_tunnel' && e.chokepoint.detection?.evidence.includes(String(remotePort)) === true);
    expect(detection.chokepoint.detection).toMatchObject({ kind: 'reverse_tunnel', confidence: 'high', action: 'deny' });
    const closed = await proxy.log.waitFor((e) => e.event.action === 'flow.closed' && e.chokepoint.flow_id === detection.chokepoint.flow_id);
    expect(closed.rule?.id).toBe('detection.reverse_tunnel');
    // The far side: nothing listens where the forward would be, and sshd never saw the request.
    expect(await connectOutcome(remotePort)).toBe('refused');
    const log = readFileSync(sshdLog, 'utf8');
    expect(log).toMatch(/Accepted publickey for root/);
    expect(log).not.toMatch(/tcpip-forward/);
    expect(canary.connections).toBe(0);
  });

  it.each([
    { flag: '-L', spec: (local: number) => ['-L', `127.0.0.1:${local}:127.0.0.1:${canary.port}`] },
    { flag: '-D', spec: (local: number) => ['-D', `127.0.0.1:${local}`] },
  ])('refuses ssh $flag: the forwarded connection fails with readable text, the canary sees nothing', async ({ flag, spec }) => {
    const local = await freePort();
    const program = startProgram('ssh', [...sshOptions(), '-N', ...spec(local), 'agent@open.test']);
    try {
      // ssh listens on the local port once it is logged in; until then connects are refused.
      const connected = await (async (): Promise<net.Socket> => {
        for (;;) {
          if (program.child.exitCode !== null) throw new Error(`ssh exited: ${program.output.stderr}`);
          const attempt = await new Promise<net.Socket | undefined>((resolve) => {
            const candidate = net.connect(local, '127.0.0.1');
            candidate.once('connect', () => resolve(candidate));
            candidate.once('error', () => resolve(undefined));
          });
          if (attempt) return attempt;
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      })();
      const received: Buffer[] = [];
      connected.on('data', (chunk: Buffer) => received.push(chunk));
      const ended = new Promise<void>((resolve) => connected.once('close', () => resolve()));
      connected.on('error', () => {});
      // -D: a SOCKS5 request for the canary (no auth, CONNECT 127.0.0.1:canary).
      if (flag === '-D') {
        const port = Buffer.alloc(2);
        port.writeUInt16BE(canary.port);
        connected.write(Buffer.concat([Buffer.from([5, 1, 0]), Buffer.from([5, 1, 0, 1, 127, 0, 0, 1]), port]));
      }
      await eventually(() => /open failed/.test(program.output.stderr), 'ssh reporting the refused channel', 30_000);
      expect(program.output.stderr).toMatch(/open failed: administratively prohibited: chokepoint: port forwarding \(ssh -L \/ -D\) to 127\.0\.0\.1:\d+ is not allowed/);
      if (flag === '-L') await ended;
      expect(Buffer.concat(received).toString()).not.toContain('canary');
      expect(canary.connections).toBe(0);
      const refused = await proxy.log.waitFor((e) => e.event.action === 'ssh.refused' && (e.chokepoint.details?.ssh as { request?: string } | undefined)?.request === 'direct-tcpip');
      expect(refused.chokepoint.details?.ssh).toMatchObject({ target: `127.0.0.1:${canary.port}` });
      connected.destroy();
    } finally {
      program.child.kill();
      await program.exited;
    }
  });

  it('refuses agent forwarding (ssh -A) as an ssh.refused event; the session itself runs', async () => {
    const agentSocket = path.join(dir, 'ssh-agent.sock');
    const sshAgent = startProgram('ssh-agent', ['-D', '-a', agentSocket]);
    try {
      await eventually(() => existsSync(agentSocket), 'ssh-agent listening');
      const result = await ssh('open.test', ['echo', 'hi'], ['-A'], undefined, { ...process.env, SSH_AUTH_SOCK: agentSocket });
      expect(result.stdout).toBe('hi\n');
      expect(result.code).toBe(0);
      const refused = await proxy.log.waitFor((e) => e.event.action === 'ssh.refused' && (e.chokepoint.details?.ssh as { request?: string } | undefined)?.request === 'auth-agent');
      expect(refused.event.reason).toMatch(/agent forwarding is not allowed/);
    } finally {
      sshAgent.child.kill();
      await sshAgent.exited;
    }
  });

  it('never relays non-SSH bytes raw on an intercepting rule, even for an audit-mode agent', async () => {
    const socket = net.connect({ port: proxy.proxy.http?.port ?? 0, host: '127.0.0.1', localAddress: '127.0.0.2' });
    const received: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.on('error', () => {});
    socket.write(`CONNECT open.test:${sshd.port} HTTP/1.1\r\nHost: open.test:${sshd.port}\r\n\r\n`);
    socket.write('GET / HTTP/1.1\r\nHost: open.test\r\n\r\n');
    await closed;
    const answer = Buffer.concat(received).toString('latin1');
    expect(answer).toMatch(/^HTTP\/1\.1 200 /);
    // sshd answers anything it is sent with its identification line: it was not sent anything.
    expect(answer).not.toMatch(/SSH-2\.0-OpenSSH/);
    const flowClosed = await proxy.log.waitFor((e) => e.event.action === 'flow.closed' && e.chokepoint.agent === 'auditor');
    expect(flowClosed.event.outcome).toBe('failure');
    expect(flowClosed.event.reason).toMatch(/http is not relayed on a connection whose rule intercepts SSH/);
  });

  it('meters an intercepted session against the bytes_out budget: the upload past it is cut, never forwarded whole', async () => {
    const upload = 'x'.repeat(METERED_BUDGET_BYTES * 8);
    const options = sshOptions().map((option) => (option.startsWith('ProxyCommand=') ? `${option} 127.0.0.3` : option));
    // What is asserted is the proxy's side: the upload cut, the budget event, the flow closed. The agent's
    // ssh is bounded so that a client slow to notice the cut connection cannot stall the test.
    const result = await runProgram('ssh', [...options, 'agent@open.test', 'wc -c'], { input: upload, killAfterMs: 20_000 });
    expect(result.code).not.toBe(0);
    expect(result.stdout).not.toContain(String(upload.length));
    const exceeded = await proxy.log.waitFor((e) => e.event.action === 'detection.budget_exceeded' && e.chokepoint.agent === 'metered');
    expect(exceeded.rule?.id).toBe('budget.bytes_out');
    const closed = await proxy.log.waitFor((e) => e.event.action === 'flow.closed' && e.chokepoint.agent === 'metered');
    expect(closed.event.outcome).toBe('failure');
    expect(closed.event.reason).toMatch(/^budget\.bytes_out: budget bytes_out of agent metered is spent/);
  }, 45_000);

  it('fails closed on an upstream host key that differs from the pin: no login, the agent reads why', async () => {
    const logins = acceptedLogins();
    const result = await ssh('impostor.test', ['echo', 'hi']);
    expect(result.code).toBe(255);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/chokepoint: the host key of impostor\.test:\d+ is SHA256:\S+, not the pinned SHA256:A{43}; refusing to log in/);
    expect(acceptedLogins()).toBe(logins);
    const failed = await proxy.log.waitFor((e) => e.event.action === 'ssh.upstream_failed' && e.destination?.domain === 'impostor.test');
    expect(failed.error?.code).toBe('SSH_HOST_KEY_MISMATCH');
    expect(failed.event.kind).toBe('alert');
  });

  it('tells the agent when the upstream refuses the proxy\'s login, or the proxy lacks its key', async () => {
    const refused = await ssh('stranger.test', ['echo', 'hi']);
    expect(refused.code).toBe(255);
    expect(refused.stderr).toMatch(/chokepoint: stranger\.test:\d+ refused Chokepoint's login as root \(key ssh\/stranger\)/);
    const authFailed = await proxy.log.waitFor((e) => e.event.action === 'ssh.upstream_failed' && e.destination?.domain === 'stranger.test');
    expect(authFailed.error?.code).toBe('SSH_AUTH_FAILED');

    const missing = await ssh('nokey.test', ['echo', 'hi']);
    expect(missing.code).toBe(255);
    expect(missing.stderr).toMatch(/chokepoint: SSH interception of nokey\.test:\d+ is misconfigured: the proxy cannot read its key ssh\/missing \(ENOENT\)/);
    const noKey = await proxy.log.waitFor((e) => e.event.action === 'ssh.upstream_failed' && e.destination?.domain === 'nokey.test');
    expect(noKey.error?.code).toBe('SSH_KEY_UNAVAILABLE');
    const closed = await proxy.log.waitFor((e) => e.event.action === 'flow.closed' && e.chokepoint.flow_id === noKey.chokepoint.flow_id);
    expect(closed.event.outcome).toBe('failure');
  });

  it('refuses to log in with a proxy key file that group or others may read', async () => {
    const logins = acceptedLogins();
    const result = await ssh('loose.test', ['echo', 'hi']);
    expect(result.code).toBe(255);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/chokepoint: SSH interception of loose\.test:\d+ is misconfigured: its key ssh\/loose is readable by group or others \(mode 644\); chmod 600 it/);
    expect(acceptedLogins()).toBe(logins);
  });

  it('tells the agent when the upstream is unreachable', async () => {
    const result = await runProgram('ssh', [...sshOptions('connect', unreachablePort), 'agent@down.test', 'echo', 'hi']);
    expect(result.code).toBe(255);
    expect(result.stderr).toMatch(/chokepoint: down\.test:\d+ is unreachable/);
    const failed = await proxy.log.waitFor((e) => e.event.action === 'ssh.upstream_failed' && e.destination?.domain === 'down.test');
    expect(failed.error?.code).toMatch(/ECONNREFUSED|ERROR/);
  });

  // Last ones: they change the rules (and put them back).
  it('ends a live intercepted session when a reload narrows its rule to an exec allowlist', async () => {
    const program = startProgram('ssh', [...sshOptions(), 'agent@open.test', 'echo started; exec sleep 60']);
    try {
      await eventually(() => program.output.stdout.includes('started'), 'the upstream program running', 30_000);
      const narrowed = agentYaml.replace(/(host: open\.test\n.*\n.*\n\s+ssh: \{[^}]*)\}/, '$1, exec: [echo] }');
      expect(narrowed).not.toBe(agentYaml);
      await rules.writeAgent('shell', narrowed);
      expect((await proxy.proxy.reload('test')).ok).toBe(true);
      const result = await program.exited;
      expect(result.code).toBe(255);
      expect(result.stderr).toMatch(/chokepoint: policy reload: the SSH interception rule for open\.test:\d+ changed/);
    } finally {
      program.child.kill();
      await rules.writeAgent('shell', agentYaml);
      await proxy.proxy.reload('test restore');
    }
  });

  it('ends a live intercepted session when a reload withdraws its rule: the program reads why', async () => {
    const program = startProgram('ssh', [...sshOptions(), 'agent@open.test', 'echo started; exec sleep 60']);
    try {
      await eventually(() => program.output.stdout.includes('started'), 'the upstream program running', 30_000);
      await rules.writeAgent('shell', `${agentYaml}deny:\n  - { host: open.test, reason: "withdrawn for this test" }\n`);
      expect((await proxy.proxy.reload('test')).ok).toBe(true);
      const result = await program.exited;
      expect(result.code).toBe(255);
      expect(result.stderr).toMatch(/chokepoint: policy reload: withdrawn for this test/);
    } finally {
      program.child.kill();
      await rules.writeAgent('shell', agentYaml);
      await proxy.proxy.reload('test restore');
    }
  });
});
