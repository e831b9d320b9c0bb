/**
 * Test helper: records the bytes of real OpenSSH sessions as the proxy would read them on the agent's
 * connection, every read kept as a chunk in arrival order. The server side is a real `sshd -i` (inetd
 * mode: one session on its stdio), so no sshd listens on a port.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Direction } from '../../../src/inspect/types.js';

export const SSHD = '/usr/sbin/sshd';

export interface SshLab {
  /** sshd config file (host key in a temp dir, no PAM). */
  sshdConfig: string;
  /** Removes the temp dir. */
  dispose: () => void;
}

/** Prepares a temp host key and sshd config, or explains why real OpenSSH tests cannot run here. */
export function prepareSshLab(): SshLab | { unavailable: string } {
  for (const binary of ['ssh', 'ssh-keygen']) {
    if (spawnSync(binary, ['-V']).error) return { unavailable: `${binary} is not installed` };
  }
  if (!existsSync(SSHD)) return { unavailable: `${SSHD} is not installed` };
  // sshd refuses to start without its privilege-separation directory, which the Debian service unit
  // normally creates at boot; containers often lack it.
  if (!existsSync('/run/sshd') && process.getuid?.() === 0) mkdirSync('/run/sshd', { mode: 0o755 });
  const dir = mkdtempSync(join(tmpdir(), 'chokepoint-ssh-'));
  const dispose = (): void => rmSync(dir, { recursive: true, force: true });
  const hostKey = join(dir, 'host_ed25519');
  const keygen = spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', hostKey]);
  if (keygen.status !== 0) {
    dispose();
    return { unavailable: `ssh-keygen failed: ${keygen.stderr.toString()}` };
  }
  const sshdConfig = join(dir, 'sshd_config');
  writeFileSync(sshdConfig, [`HostKey ${hostKey}`, 'UsePAM no', 'PidFile none', ''].join('\n'));
  const check = spawnSync(SSHD, ['-t', '-f', sshdConfig]);
  if (check.status !== 0) {
    dispose();
    return { unavailable: `sshd -t failed: ${check.stderr.toString().trim()}` };
  }
  return { sshdConfig, dispose };
}

/** `sshd -T` (effective server config) value of one keyword, e.g. `ciphers`. */
export function sshdSetting(lab: SshLab, keyword: string, sshdOptions: string[]): string {
  const output = spawnSync(SSHD, ['-T', '-f', lab.sshdConfig, ...sshdOptions]).stdout.toString();
  return settingFrom(output, keyword);
}

/** `ssh -G` (effective client config) value of one keyword for the given options. */
export function sshSetting(keyword: string, sshOptions: string[]): string {
  const output = spawnSync('ssh', ['-G', '-F', '/dev/null', ...sshOptions, '127.0.0.1']).stdout.toString();
  return settingFrom(output, keyword);
}

function settingFrom(output: string, keyword: string): string {
  const line = output.split('\n').find((candidate) => candidate.startsWith(`${keyword} `));
  if (line === undefined) throw new Error(`no "${keyword}" in OpenSSH config dump`);
  return line.slice(keyword.length + 1);
}

/** One read as the proxy would see it on the agent's connection. */
export interface RecordedChunk {
  direction: Direction;
  bytes: Buffer;
}

const CLIENT_OPTIONS = [
  '-F', '/dev/null',
  '-o', 'BatchMode=yes',
  '-o', 'StrictHostKeyChecking=no',
  '-o', 'UserKnownHostsFile=/dev/null',
  '-o', 'PubkeyAuthentication=no',
  '-o', 'GSSAPIAuthentication=no',
];

/**
 * The normal case: the agent runs `ssh <sshOptions>` towards a destination running `sshd -i`. Resolves
 * once the client has exited (it fails authentication on purpose: only the cleartext handshake matters).
 */
export async function recordOutboundSession(lab: SshLab, sshOptions: string[], sshdOptions: string[] = []): Promise<RecordedChunk[]> {
  const chunks: RecordedChunk[] = [];
  const destination = await listen((socket) => runSshdOn(socket, lab, sshdOptions, chunks, { sshd: 'down', peer: 'up' }));
  const client = spawn('ssh', [...CLIENT_OPTIONS, ...sshOptions, '-p', String(destination.port), '127.0.0.1', 'true'], { stdio: 'ignore' });
  await exited(client);
  await destination.close();
  return chunks;
}

/**
 * Role inversion: the agent runs `sshd -i` on a socket it opened towards the destination, and the
 * destination runs the real `ssh` client on that connection (through a ProxyCommand bridge to a second
 * local listener, since ssh only speaks over TCP or a ProxyCommand's stdio).
 */
export async function recordRoleInvertedSession(lab: SshLab, sshOptions: string[], sshdOptions: string[] = []): Promise<RecordedChunk[]> {
  const chunks: RecordedChunk[] = [];
  const accepted: net.Socket[] = [];
  const joinWhenBoth = (socket: net.Socket): void => {
    accepted.push(socket);
    const [first, second] = accepted;
    if (first && second) first.pipe(second).pipe(first);
  };
  const destination = await listen(joinWhenBoth);
  const bridgeEnd = await listen(joinWhenBoth);
  const bridge = `${process.execPath} -e 'const s=require("net").connect(${bridgeEnd.port},"127.0.0.1");process.stdin.pipe(s).pipe(process.stdout)'`;
  const client = spawn('ssh', [...CLIENT_OPTIONS, ...sshOptions, '-o', `ProxyCommand=${bridge}`, 'destination'], { stdio: 'ignore' });
  const agent = net.connect(destination.port, '127.0.0.1');
  const sshdDone = runSshdOn(agent, lab, sshdOptions, chunks, { sshd: 'up', peer: 'down' });
  await exited(client);
  await sshdDone;
  await Promise.all([destination.close(), bridgeEnd.close()]);
  return chunks;
}

/** Runs `sshd -i` on `socket`, recording each read with the direction its sender has for the proxy. */
function runSshdOn(
  socket: net.Socket,
  lab: SshLab,
  sshdOptions: string[],
  chunks: RecordedChunk[],
  directions: { sshd: Direction; peer: Direction },
): Promise<void> {
  const sshd = spawn(SSHD, ['-i', '-e', '-f', lab.sshdConfig, ...sshdOptions], { stdio: ['pipe', 'pipe', 'ignore'] });
  socket.on('data', (bytes) => {
    chunks.push({ direction: directions.peer, bytes });
    sshd.stdin.write(bytes);
  });
  sshd.stdout.on('data', (bytes: Buffer) => {
    chunks.push({ direction: directions.sshd, bytes });
    socket.write(bytes);
  });
  socket.on('error', () => sshd.kill());
  socket.on('close', () => sshd.stdin.end());
  sshd.stdin.on('error', () => socket.destroy());
  return exited(sshd).then(() => {
    socket.end();
  });
}

async function listen(onConnection: (socket: net.Socket) => void): Promise<{ port: number; close: () => Promise<void> }> {
  const server = net.createServer(onConnection);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('listener has no TCP address');
  return { port: address.port, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => child.once('exit', () => resolve()));
}
