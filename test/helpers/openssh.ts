/**
 * Real OpenSSH through the proxy, shared by the SSH integration tests: the ProxyCommand that opens a
 * CONNECT or SOCKS5 tunnel through Chokepoint, and a loopback listener running one real `sshd -i` per
 * connection.
 */
import { spawn } from 'node:child_process';
import { SSHD, type SshLab } from '../unit/inspect/ssh-capture.js';
import { tcpUpstream } from './upstreams.js';

/**
 * The ProxyCommand: opens a CONNECT (`connect`) or SOCKS5 (`socks5`) tunnel to `host:port` through the
 * proxy (from the loopback address given as 5th argument, if any), then joins the tunnel to its stdin/stdout. A refusal of the tunnel itself is printed on stderr.
 * Written to a temp file at run time, as plain JavaScript, because ssh runs it as a separate program.
 *
 * When the proxy closes the tunnel the command keeps draining stdin until ssh closes it, as `nc` does:
 * ssh sends its KEXINIT right after reading the server's identification line, and a ProxyCommand that
 * exited at once would make that write fail (EPIPE) before ssh reads the disconnect message behind it.
 */
export const PROXY_COMMAND_SCRIPT = `
const net = require('node:net');
const [mode, proxyPort, host, port, source] = process.argv.slice(2);
// An optional source address (another loopback address) lets a test act as a second agent.
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

/** A loopback listener that runs one `sshd -i` per accepted connection, counting the connections. */
export interface SshServer {
  port: number;
  connections: number;
  close(): Promise<void>;
}

export async function startSshServer(lab: SshLab, authorizedKeys: string, extraOptions: string[] = []): Promise<SshServer> {
  const sshdOptions = ['-o', `AuthorizedKeysFile=${authorizedKeys}`, '-o', 'StrictModes=no', '-o', 'PasswordAuthentication=no', '-o', 'KbdInteractiveAuthentication=no', ...extraOptions];
  return tcpUpstream((socket) => {
    const sshd = spawn(SSHD, ['-i', '-e', '-f', lab.sshdConfig, ...sshdOptions], { stdio: ['pipe', 'pipe', 'ignore'] });
    sshd.once('exit', () => socket.end());
    socket.pipe(sshd.stdin);
    sshd.stdout.pipe(socket);
    // Closing the server destroys its sockets, and with them their sshd.
    socket.on('close', () => sshd.kill());
    sshd.stdin.on('error', () => socket.destroy());
  });
}

