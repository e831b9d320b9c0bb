/**
 * A real rsyslogd for the syslog sink tests, with its own configuration in a temp directory: UDP
 * (imudp), plain TCP (imptcp, octet-counted framing) and TLS (imtcp with the OpenSSL stream driver and a
 * CA and certificates generated here with openssl; the client must present a certificate the CA
 * signed). Every message received is written to a file as `input|pri|app-name|msgid|sd|msg`, so a test
 * sees what rsyslog parsed, not only the bytes sent.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import dgram from 'node:dgram';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

export const RSYSLOGD = '/usr/sbin/rsyslogd';
const OSSL_DRIVER = ['/usr/lib/x86_64-linux-gnu/rsyslog/lmnsd_ossl.so', '/usr/lib/aarch64-linux-gnu/rsyslog/lmnsd_ossl.so', '/usr/lib/rsyslog/lmnsd_ossl.so'];

/** Why the rsyslog tests cannot run here, or undefined when they can. */
export function rsyslogUnavailable(): string | undefined {
  if (!existsSync(RSYSLOGD)) return 'rsyslogd is not installed (apt-get install rsyslog)';
  if (!OSSL_DRIVER.some((file) => existsSync(file))) return 'the rsyslog OpenSSL driver is not installed (apt-get install rsyslog-openssl)';
  return undefined;
}

export interface ReceivedMessage {
  input: string;
  pri: number;
  appName: string;
  msgId: string;
  structuredData: string;
  msg: string;
}

export interface Rsyslog {
  udpPort: number;
  tcpPort: number;
  tlsPort: number;
  /** CA, and a client certificate / key it signed, for the sink's TLS settings. */
  caFile: string;
  clientCertFile: string;
  clientKeyFile: string;
  /** A CA that signed nothing here: a sink trusting it must refuse the server. */
  otherCaFile: string;
  received(): Promise<ReceivedMessage[]>;
  /** Resolves once `count` messages matching `match` were received (polls the output file). */
  waitFor(match: (message: ReceivedMessage) => boolean, count: number, ms?: number): Promise<ReceivedMessage[]>;
  stop(): Promise<void>;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: 'ignore' });
}

/** CA, server certificate for 127.0.0.1 / localhost, client certificate; keys stay in `dir`. */
function makeCertificates(dir: string): void {
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=chokepoint test CA'], dir);
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'other-ca.key', '-out', 'other-ca.pem', '-days', '2', '-subj', '/CN=unrelated CA'], dir);
  for (const [name, subject, ext] of [
    ['server', '/CN=localhost', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n'],
    ['client', '/CN=chokepoint', 'extendedKeyUsage=clientAuth\n'],
  ] as const) {
    openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject], dir);
    execFileSync('sh', ['-c', `printf '${ext}' > ${name}.ext`], { cwd: dir });
    openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.pem`, '-days', '2', '-extfile', `${name}.ext`], dir);
  }
}

async function freeTcpPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function freeUdpPort(): Promise<number> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}

const FIELD_SEPARATOR = '\u001f';

export async function startRsyslog(): Promise<Rsyslog> {
  const dir = await mkdtemp(path.join(tmpdir(), 'chokepoint-rsyslog-'));
  await mkdir(path.join(dir, 'work'));
  makeCertificates(dir);
  const [udpPort, tcpPort, tlsPort] = [await freeUdpPort(), await freeTcpPort(), await freeTcpPort()];
  const output = path.join(dir, 'received.log');
  const file = (name: string): string => path.join(dir, name);
  await writeFile(
    file('rsyslog.conf'),
    `global(workDirectory="${file('work')}" maxMessageSize="64k"
  defaultNetstreamDriverCAFile="${file('ca.pem')}"
  defaultNetstreamDriverCertFile="${file('server.pem')}"
  defaultNetstreamDriverKeyFile="${file('server.key')}")
module(load="imudp")
module(load="imptcp")
module(load="imtcp" streamDriver.name="ossl" streamDriver.mode="1" streamDriver.authMode="x509/certvalid")
input(type="imudp" address="127.0.0.1" port="${udpPort}")
input(type="imptcp" address="127.0.0.1" port="${tcpPort}")
input(type="imtcp" address="127.0.0.1" port="${tlsPort}")
template(name="fields" type="string" string="%inputname%${FIELD_SEPARATOR}%pri%${FIELD_SEPARATOR}%app-name%${FIELD_SEPARATOR}%msgid%${FIELD_SEPARATOR}%structured-data%${FIELD_SEPARATOR}%msg%\\n")
action(type="omfile" file="${output}" template="fields")
`,
  );
  const daemon: ChildProcess = spawn(RSYSLOGD, ['-n', '-f', file('rsyslog.conf'), '-i', file('rsyslogd.pid')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  daemon.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => daemon.once('exit', () => resolve()));

  const stop = async (): Promise<void> => {
    if (daemon.exitCode === null && daemon.signalCode === null) daemon.kill('SIGTERM');
    await exited;
    await rm(dir, { recursive: true, force: true });
  };

  // Ready when both stream inputs accept connections (the UDP input is set up with them).
  const deadline = Date.now() + 20_000;
  while (!((await canConnect(tcpPort)) && (await canConnect(tlsPort)))) {
    if (daemon.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`rsyslogd did not start: ${stderr}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }

  const received = async (): Promise<ReceivedMessage[]> => {
    let text: string;
    try {
      text = await readFile(output, 'utf8');
    } catch {
      return [];
    }
    return text
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => {
        const [input = '', pri = '0', appName = '', msgId = '', structuredData = '', ...rest] = line.split(FIELD_SEPARATOR);
        return { input, pri: Number(pri), appName, msgId, structuredData, msg: rest.join(FIELD_SEPARATOR) };
      });
  };

  return {
    udpPort,
    tcpPort,
    tlsPort,
    caFile: file('ca.pem'),
    clientCertFile: file('client.pem'),
    clientKeyFile: file('client.key'),
    otherCaFile: file('other-ca.pem'),
    received,
    async waitFor(match, count, ms = 20_000) {
      const until = Date.now() + ms;
      for (;;) {
        const matching = (await received()).filter(match);
        if (matching.length >= count) return matching;
        if (Date.now() > until) throw new Error(`rsyslogd received ${matching.length} of ${count} expected messages`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    stop,
  };
}
