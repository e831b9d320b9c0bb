/**
 * Real OpenSSH around Chokepoint: a ProxyCommand that opens a CONNECT or SOCKS5 tunnel through the
 * proxy, a loopback listener running one `sshd -i` per connection (optionally logging to a file), and
 * a runner for client programs (ssh, git) that collects their output.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { SshLab } from '../unit/inspect/ssh-capture.js';
import { SSHD } from '../unit/inspect/ssh-capture.js';
import { tcpUpstream } from './upstreams.js';

/**
 * The ProxyCommand: opens a CONNECT (`connect`) or SOCKS5 (`socks5`) tunnel to `host:port` through the
 * proxy (argv: mode, proxy port, host, port, and optionally a loopback source address so a test can act
 * as a second agent), then joins the tunnel to its stdin/stdout. A refusal of the tunnel itself is
 * printed on stderr. When the proxy
 * closes the tunnel it keeps draining stdin until ssh closes it, as `nc` does, so that ssh reads a
 * disconnect message instead of failing a write.
 */
export const PROXY_COMMAND_SCRIPT = `
const net = require('node:net');
const [mode, proxyPort, host, port, source] = process.argv.slice(2);
const socket = net.connect({ port: Number(proxyPort), host: '127.0.0.1', ...(source ? { localAddress: source } : {}) });
let buffered = Buffer.alloc(0);
let handshaking = true;
const join = (rest) => {
  handshaking = false;
  if (rest.length > 0) process.stdout.write(rest);
  process.stdin.pipe(socket);
  socket.on('end', () => process.stdout.end());
};
socket.on('error', (error) => { process.stderr.write('proxycommand: ' + error.message + '\\n'); process.exit(1); });
socket.on('close', () => {
  if (handshaking) { process.stderr.write('proxycommand: the proxy closed the connection\\n'); process.exit(1); }
  process.stdin.unpipe(socket);
  process.stdin.resume();
  // A connection reset or destroyed by the proxy may close without an 'end': ssh must still read EOF.
  process.stdout.end();
});
process.stdin.on('end', () => socket.end());
socket.on('data', (chunk) => {
  if (!handshaking) return void process.stdout.write(chunk);
  buffered = Buffer.concat([buffered, chunk]);
  if (mode === 'connect') {
    const end = buffered.indexOf('\\r\\n\\r\\n');
    if (end < 0) return;
    const head = buffered.subarray(0, end).toString('latin1');
    if (!/^HTTP\\/1\\.[01] 200 /.test(head)) { process.stderr.write('proxycommand: ' + head + '\\n'); process.exit(1); }
    join(buffered.subarray(end + 4));
  } else {
    // Method choice (2 bytes), then the reply: VER REP RSV ATYP BND.ADDR BND.PORT.
    if (buffered.length < 2 + 5) return;
    const atyp = buffered[2 + 3];
    const replyLength = 4 + (atyp === 1 ? 4 : atyp === 4 ? 16 : 1 + buffered[2 + 4]) + 2;
    if (buffered.length < 2 + replyLength) return;
    if (buffered[2 + 1] !== 0) { process.stderr.write('proxycommand: SOCKS reply ' + buffered[2 + 1] + '\\n'); process.exit(1); }
    join(buffered.subarray(2 + replyLength));
  }
});
if (mode === 'connect') {
  socket.write('CONNECT ' + host + ':' + port + ' HTTP/1.1\\r\\nHost: ' + host + ':' + port + '\\r\\n\\r\\n');
} else {
  const name = Buffer.from(host);
  const portBytes = Buffer.alloc(2);
  portBytes.writeUInt16BE(Number(port));
  socket.write(Buffer.concat([Buffer.from([5, 1, 0, 5, 1, 0, 3, name.length]), name, portBytes]));
}
`;

export interface ProgramResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** A running program whose output is collected as it comes. */
export interface RunningProgram {
  child: ChildProcess;
  output: { stdout: string; stderr: string };
  exited: Promise<ProgramResult>;
}

export interface ProgramOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  killAfterMs?: number;
  /** Written to the program's stdin, which is then closed (stdin is /dev/null without it). */
  input?: string;
}

export function startProgram(command: string, args: string[], options: ProgramOptions = {}): RunningProgram {
  const child = spawn(command, args, {
    stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    ...(options.env ? { env: options.env } : {}),
    ...(options.cwd ? { cwd: options.cwd } : {}),
  });
  if (options.input !== undefined) {
    child.stdin?.on('error', () => {});
    child.stdin?.end(options.input);
  }
  const output = { stdout: '', stderr: '' };
  child.stdout?.setEncoding('utf8').on('data', (text: string) => (output.stdout += text));
  child.stderr?.setEncoding('utf8').on('data', (text: string) => (output.stderr += text));
  const timer = setTimeout(() => child.kill('SIGKILL'), options.killAfterMs ?? 60_000);
  const exited = new Promise<ProgramResult>((resolve) =>
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, ...output });
    }),
  );
  return { child, output, exited };
}

export function runProgram(command: string, args: string[], options: ProgramOptions = {}): Promise<ProgramResult> {
  return startProgram(command, args, options).exited;
}

/** A loopback listener that runs one `sshd -i` per accepted connection, counting the connections. */
export interface SshServer {
  port: number;
  connections: number;
  close(): Promise<void>;
}

export interface SshServerOptions {
  /** sshd logs there (appending, at DEBUG1) instead of nowhere. */
  logFile?: string;
  /** More `-o key=value` arguments for sshd. */
  extraOptions?: string[];
}

export function startSshServer(lab: SshLab, authorizedKeys: string, options: SshServerOptions = {}): Promise<SshServer> {
  const { logFile, extraOptions = [] } = options;
  const sshdOptions = ['-o', `AuthorizedKeysFile=${authorizedKeys}`, '-o', 'StrictModes=no', '-o', 'PasswordAuthentication=no', '-o', 'KbdInteractiveAuthentication=no', '-o', 'Subsystem=sftp internal-sftp', '-o', 'AcceptEnv=CHOKEPOINT_*', ...extraOptions];
  const logging = logFile ? ['-E', logFile, '-o', 'LogLevel=DEBUG1'] : ['-e'];
  return tcpUpstream((socket) => {
    const sshd = spawn(SSHD, ['-i', ...logging, '-f', lab.sshdConfig, ...sshdOptions], { stdio: ['pipe', 'pipe', 'ignore'] });
    sshd.once('exit', () => socket.end());
    socket.pipe(sshd.stdin);
    sshd.stdout.pipe(socket);
    // Closing the server destroys its sockets, and with them their sshd.
    socket.on('close', () => sshd.kill());
    sshd.stdin.on('error', () => socket.destroy());
  });
}

/** A temp directory with an ed25519 client key, an authorized_keys file for it, and the ProxyCommand script. */
export interface SshClientFiles {
  dir: string;
  clientKey: string;
  authorizedKeys: string;
  scriptPath: string;
}

export function prepareSshClient(prefix: string): SshClientFiles {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  const clientKey = path.join(dir, 'id_ed25519');
  const keygen = spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', clientKey]);
  if (keygen.status !== 0) throw new Error(`ssh-keygen failed: ${keygen.stderr.toString()}`);
  const authorizedKeys = path.join(dir, 'authorized_keys');
  copyFileSync(`${clientKey}.pub`, authorizedKeys);
  const scriptPath = path.join(dir, 'proxy-command.cjs');
  writeFileSync(scriptPath, PROXY_COMMAND_SCRIPT);
  return { dir, clientKey, authorizedKeys, scriptPath };
}
