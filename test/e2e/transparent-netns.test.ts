/**
 * Transparent mode proved in network namespaces: an agent namespace whose only way out is Chokepoint
 * (sidecar: Chokepoint runs inside it as its own uid, behind `chokepoint iptables install --mode
 * sidecar`; gateway: the agent routes through a gateway namespace running Chokepoint behind `--mode
 * gateway`), and an internet namespace with real servers (HTTP, TLS, OpenSSH, a Stratum pool, a UDP
 * sink, a DNS server). The clients are the real ones — curl, ssh, dig — with no proxy settings at all: the kernel
 * redirects them. Denied flows must leave an event and must never reach the internet-side server.
 *
 * Needs root, iproute2, iptables and setpriv; skipped with the reason otherwise.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSidecarLab, type SidecarLab } from '../../bench/netns/sidecar-lab.js';
import { AGENT_ADDRESS, INTERNET_ADDRESSES, INTERNET_V6, netnsUnavailable } from '../../bench/netns/topology.js';

const unavailable = netnsUnavailable() ?? (existsSync('/usr/sbin/sshd') ? undefined : '/usr/sbin/sshd is not installed');
const { allowed, denied, pool, udpSink, named, shell } = INTERNET_ADDRESSES;

const POLICY = `unknown_agent: deny
detections: { stratum: deny }
`;
// Port 22 on the "allowed" address is allowed by cidr; the "denied" address has no rule at all.
const AGENT = `agent: sandbox
identify: { sources: ["${AGENT_ADDRESS}/32"] }
mode: enforce
allow:
  - { host: allowed.test, ports: [80, 443] }
  - { cidr: ${allowed}/32, ports: [22] }
  - { cidr: ${pool}/32, ports: [3333] }
  - { host: named.test, ports: [80, 22] }
  - { host: "*.named.test", ports: [80] }
  - { host: shell.test, ports: [22] }
deny:
  - { host: blocked.test, reason: "not for agents" }
`;

type Event = Record<string, unknown> & {
  event?: { action?: string; reason?: string };
  chokepoint?: { entry?: string; action?: string; flow_id?: string };
  rule?: { id?: string };
  destination?: { domain?: string; ip?: string; port?: number };
};

describe.skipIf(unavailable !== undefined).each([
  { kind: 'sidecar' as const, listenerSeenFromAgent: '127.0.0.1' },
  { kind: 'gateway' as const, listenerSeenFromAgent: '10.99.0.1' },
])('transparent mode in network namespaces ($kind)', ({ kind, listenerSeenFromAgent }) => {
  let lab: SidecarLab;
  let sshDir: string;

  beforeAll(async () => {
    lab = await startSidecarLab({
      policy: POLICY,
      agents: { sandbox: AGENT },
      certificateNames: ['allowed.test', 'denied.test'],
      extraConfig: `hosts: { allowed.test: ${allowed}, denied.test: ${denied} }`,
      kind,
      dns: true,
    });
    sshDir = path.join(lab.dir, 'ssh');
    await startSshd(lab, sshDir);
  }, 60_000);

  afterAll(async () => {
    await lab?.stop();
  });

  /** Runs a client inside the agent namespace, as root: not the proxy's uid, so it is redirected. */
  const inAgent = (argv: string[], input?: string) => lab.topology.run(lab.topology.agentNs, argv, input === undefined ? {} : { input });
  const curl = (url: string, resolve?: string) =>
    inAgent(['curl', '-sS', '--max-time', '15', '--noproxy', '*', '--cacert', lab.certPath, ...(resolve ? ['--resolve', resolve] : []), '-o', '-', '-w', '\n%{http_code}', url]);
  const connectionsTo = (address: string, kind?: string) => lab.internet.filter((entry) => entry.kind !== 'dns' && entry.local === address && (kind === undefined || entry.kind === kind)).length;
  const eventsWhere = (test: (event: Event) => boolean): Event[] => (lab.events() as Event[]).filter(test);
  async function eventually(test: (event: Event) => boolean): Promise<Event> {
    for (let attempt = 0; attempt < 100; attempt += 1) {
      const found = eventsWhere(test)[0];
      if (found) return found;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error('no such event');
  }
  const transparent = (event: Event): boolean => event.chokepoint?.entry === 'transparent';

  it('installs its rules (printing each command) and no proxy variable is set in the agent namespace', async () => {
    expect(lab.iptablesOutput).toContain('iptables-restore --noflush');
    if (kind === 'sidecar') expect(lab.iptablesOutput).toContain(`-A CHOKEPOINT_OUT -m owner --uid-owner ${lab.proxyUid} -j RETURN`);
    else expect(lab.iptablesOutput).toContain(`-I PREROUTING 1 -i ${lab.topology.gatewayAgentIf ?? ''} -j CHOKEPOINT_PRE`);
    const env = await inAgent(['env']);
    expect(env.stdout).not.toMatch(/_proxy=/i);
  });

  it('lets curl reach an allowed name over plain HTTP, judged by its Host header', async () => {
    const result = await curl('http://allowed.test/', `allowed.test:80:${allowed}`);
    expect(result.stdout).toBe(`hello from ${allowed}\n\n200`);
    const event = await eventually((e) => transparent(e) && e.event?.action === 'flow.allowed' && e.destination?.domain === 'allowed.test' && e.destination.port === 80);
    expect(event.destination?.ip).toBe(allowed);
  });

  it('lets curl reach an allowed name over HTTPS, judged by its SNI', async () => {
    const result = await curl('https://allowed.test/', `allowed.test:443:${allowed}`);
    expect(result.stdout).toBe(`hello from ${allowed}\n\n200`);
    await eventually((e) => transparent(e) && e.event?.action === 'flow.closed' && e.destination?.domain === 'allowed.test' && e.destination.port === 443);
  });

  it('refuses a name no rule allows (HTTP gets a 403 from Chokepoint, HTTPS a TLS alert); the server sees nothing', async () => {
    const before = connectionsTo(denied);
    const plain = await curl('http://denied.test/', `denied.test:80:${denied}`);
    expect(plain.stdout).toMatch(/"rule":"default-deny"[\s\S]*\n403$/);
    const secure = await curl('https://denied.test/', `denied.test:443:${denied}`);
    expect(secure.code).not.toBe(0);
    await eventually((e) => transparent(e) && e.event?.action === 'flow.denied' && e.destination?.domain === 'denied.test' && e.destination.port === 443);
    expect(connectionsTo(denied)).toBe(before);
  });

  it('refuses an allowed name sent to an address it does not resolve to (SNI spoofing); the server sees nothing', async () => {
    const before = connectionsTo(denied);
    const result = await curl('https://allowed.test/', `allowed.test:443:${denied}`);
    expect(result.code).not.toBe(0);
    const event = await eventually((e) => transparent(e) && e.rule?.id === 'transparent.address-mismatch');
    expect(event.destination).toMatchObject({ domain: 'allowed.test', ip: denied, port: 443 });
    expect(connectionsTo(denied)).toBe(before);
  });

  it('judges a bare address (no name anywhere) by the address rules', async () => {
    const before = connectionsTo(denied);
    const result = await curl(`http://${denied}/`);
    expect(result.stdout).toMatch(/\n403$/);
    await eventually((e) => transparent(e) && e.event?.action === 'flow.denied' && e.destination?.ip === denied && e.destination.domain === undefined);
    expect(connectionsTo(denied)).toBe(before);
  });

  it('lets ssh through to an allowed address and refuses it, with the reason, elsewhere', async () => {
    const ok = await ssh(allowed);
    expect(ok.stdout).toBe('hi\n');
    expect(ok.code).toBe(0);
    const refused = await ssh(denied);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/chokepoint/);
    await eventually((e) => transparent(e) && e.event?.action === 'flow.denied' && e.destination?.ip === denied && e.destination.port === 22);
    expect(sshdConnectionsTo(denied)).toBe(0);
    expect(sshdConnectionsTo(allowed)).toBe(1);
  });

  it('detects a raw Stratum client on an allowed address and refuses it before the pool hears a byte', async () => {
    const before = connectionsTo(pool, 'stratum');
    const script = `
      const socket = require('node:net').connect(3333, '${pool}');
      socket.on('connect', () => socket.write(JSON.stringify({ id: 1, method: 'mining.subscribe', params: ['cpuminer/2.5.1'] }) + '\\n'));
      socket.on('data', (data) => process.stdout.write(data));
      socket.on('error', (error) => process.stdout.write('error ' + error.code));
      socket.on('close', () => process.exit(0));
      setTimeout(() => process.exit(2), 10000);`;
    const result = await inAgent([process.execPath, '-e', script]);
    expect(result.stdout).not.toContain('result');
    const detection = await eventually((e) => transparent(e) && e.event?.action === 'detection.stratum');
    expect(detection.destination).toMatchObject({ ip: pool, port: 3333 });
    await eventually((e) => transparent(e) && e.event?.action === 'flow.denied' && e.rule?.id === 'detection.stratum');
    expect(connectionsTo(pool, 'stratum')).toBe(before);
  });

  it('drops UDP (QUIC included) and counts it; nothing arrives on the internet side', async () => {
    const script = `
      const socket = require('node:dgram').createSocket('udp4');
      socket.send('exfil', 9999, '${udpSink}', () => socket.send('quic', 443, '${udpSink}', () => socket.close()));
      socket.on('error', (error) => { process.stdout.write('error ' + error.code); socket.close(); });`;
    await inAgent([process.execPath, '-e', script]);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(lab.internet.filter((entry) => entry.kind === 'udp')).toEqual([]);
    const counters = lab.topology.must(lab.chokepointNs, ['iptables', '-t', 'filter', '-L', 'CHOKEPOINT_DROP', '-v', '-x', '-n']);
    expect(packetsOf(counters, 'chokepoint: QUIC')).toBeGreaterThanOrEqual(1);
    expect(packetsOf(counters, 'chokepoint: UDP')).toBeGreaterThanOrEqual(1);
  });

  it('drops ICMP (no ping tunnel) and counts it; the route out exists', async () => {
    const ping = await inAgent(['ping', '-c', '2', '-i', '0.2', '-W', '1', allowed]);
    expect(ping.stdout).toMatch(/ 0 received/);
    const counters = lab.topology.must(lab.chokepointNs, ['iptables', '-t', 'filter', '-L', 'CHOKEPOINT_DROP', '-v', '-x', '-n']);
    expect(packetsOf(counters, 'chokepoint: other protocols')).toBeGreaterThanOrEqual(2);
  });

  it('refuses a connection made to the transparent listener directly (it would loop)', async () => {
    const script = `
      const socket = require('node:net').connect(${lab.transparentPort}, '${listenerSeenFromAgent}');
      socket.on('connect', () => socket.write('GET / HTTP/1.1\\r\\nHost: allowed.test\\r\\n\\r\\n'));
      socket.on('data', (data) => process.stdout.write(data));
      socket.on('error', () => undefined);
      socket.on('close', () => process.exit(0));`;
    const result = await inAgent([process.execPath, '-e', script]);
    expect(result.stdout).toBe('');
    await eventually((e) => e.rule?.id === 'transparent.not-redirected');
  });

  it.runIf(kind === 'sidecar')('refuses the admin API to the agent on the loopback it shares; the proxy user still reaches it', async () => {
    expect(lab.iptablesOutput).toContain(`-A CHOKEPOINT_FILTER -o lo -p tcp --dport ${lab.adminPort} -m comment --comment "chokepoint: admin API" -j REJECT --reject-with tcp-reset`);
    const health = ['curl', '-sS', '--max-time', '15', '-o', '/dev/null', '-w', '%{http_code}', '-H', `Authorization: Bearer ${lab.adminToken}`, `http://127.0.0.1:${lab.adminPort}/v1/health`];
    const agent = await inAgent(health);
    expect(agent.code).toBe(7);
    const counters = lab.topology.must(lab.chokepointNs, ['iptables', '-t', 'filter', '-L', 'CHOKEPOINT_FILTER', '-v', '-x', '-n']);
    expect(packetsOf(counters, 'chokepoint: admin API')).toBeGreaterThanOrEqual(1);
    const proxy = await inAgent(['setpriv', '--reuid', String(lab.proxyUid), '--regid', String(lab.proxyUid), '--clear-groups', '--', ...health]);
    expect(proxy.stdout).toBe('200');
  });

  it.runIf(kind === 'sidecar')('redirects IPv6 as well: with a route out, the agent reaches nothing over IPv6 (TCP, UDP) while the proxy user does', async () => {
    const url = `http://[${INTERNET_V6}]/`;
    const asProxy = await inAgent(['setpriv', '--reuid', String(lab.proxyUid), '--regid', String(lab.proxyUid), '--clear-groups', '--', 'curl', '-sS', '--max-time', '15', url]);
    expect(asProxy.stdout).toBe(`hello from ${INTERNET_V6}\n`);
    const reachedBefore = connectionsTo(INTERNET_V6);
    // Redirected to [::1] on the transparent port, where this lab listens on IPv4 only: refused.
    const tcp = await inAgent(['curl', '-sS', '--max-time', '15', url]);
    expect(tcp.code).not.toBe(0);
    const udp = `
      const socket = require('node:dgram').createSocket('udp6');
      socket.send('exfil', 9999, '${INTERNET_V6}', () => socket.close());
      socket.on('error', () => socket.close());`;
    await inAgent([process.execPath, '-e', udp]);
    const counters = lab.topology.must(lab.chokepointNs, ['ip6tables', '-t', 'filter', '-L', 'CHOKEPOINT_DROP', '-v', '-x', '-n']);
    expect(packetsOf(counters, 'chokepoint: UDP')).toBeGreaterThanOrEqual(1);
    expect(connectionsTo(INTERNET_V6)).toBe(reachedBefore);
  });

  // DNS: the agent's resolv.conf names an address where nothing answers (AGENT_RESOLVER); the rules
  // redirect UDP/TCP 53 to Chokepoint's DNS listener, whose upstream is the internet namespace's server.
  const dig = (args: string[]) => inAgent(['dig', '+tries=1', '+time=10', ...args]);
  const askedOutside = (name: string) => lab.internet.filter((entry) => entry.kind === 'dns' && entry.name === name).length;

  it('answers DNS through the listener whichever resolver the agent asks (UDP and TCP); a denied name gets NXDOMAIN + EDE and is never asked outside', async () => {
    const viaSystem = await dig(['+short', 'named.test', 'A']);
    expect(viaSystem.stdout).toBe(`${named}\n`);
    const viaOther = await dig(['+tcp', '+short', '@9.9.9.9', 'named.test', 'A']);
    expect(viaOther.stdout).toBe(`${named}\n`);
    await eventually((e) => e.event?.action === 'dns.query' && e.destination?.domain === 'named.test' && (e as { network?: { transport?: string } }).network?.transport === 'tcp');

    const refused = await dig(['blocked.test', 'A']);
    expect(refused.stdout).toMatch(/status: NXDOMAIN/);
    expect(refused.stdout).toMatch(/EDE: 15 \(Blocked\)/);
    await eventually((e) => e.event?.action === 'dns.query' && e.destination?.domain === 'blocked.test' && e.chokepoint?.action === 'deny');
    expect(askedOutside('blocked.test')).toBe(0);
    expect(askedOutside('named.test')).toBeGreaterThanOrEqual(1);
  });

  it('lets curl reach a name resolved by the system resolver (no --resolve), judged by the remembered name', async () => {
    const result = await inAgent(['curl', '-sS', '--max-time', '15', '--noproxy', '*', '-o', '-', '-w', '\n%{http_code}', 'http://named.test/']);
    expect(result.stdout).toBe(`hello from ${named}\n\n200`);
    const event = await eventually((e) => transparent(e) && e.event?.action === 'flow.allowed' && e.destination?.domain === 'named.test' && e.destination.port === 80);
    expect(event.destination?.ip).toBe(named);
    const denied = await inAgent(['curl', '-sS', '--max-time', '15', '--noproxy', '*', 'http://blocked.test/']);
    expect(denied.code).toBe(6);
    expect(askedOutside('blocked.test')).toBe(0);
  });

  it('judges a flow to a resolved address by the remembered name: a lying Host header is refused before the server hears it', async () => {
    await dig(['+short', 'named.test', 'A']);
    const before = connectionsTo(named);
    // The address named.test resolved to, asked for under another (denied) name.
    const lying = await curl('http://blocked.test/', `blocked.test:80:${named}`);
    expect(lying.stdout).toMatch(/\n403$/);
    const refusal = await eventually((e) => transparent(e) && e.event?.action === 'flow.denied' && e.destination?.ip === named && e.rule?.id === 'detection.host_mismatch');
    expect(refusal.destination?.domain).toBe('named.test');
    expect(connectionsTo(named)).toBe(before);
  });

  it('judges ssh by the name the agent resolved (NameMemory), where the bare address is refused', async () => {
    // Dialled bare before any name for it was resolved: no rule allows the address.
    const bare = await ssh(shell);
    expect(bare.code).not.toBe(0);
    await eventually((e) => transparent(e) && e.event?.action === 'flow.denied' && e.destination?.ip === shell && e.destination.port === 22 && e.destination.domain === undefined);
    expect(sshdConnectionsTo(shell)).toBe(0);
    // SSH carries no name in its bytes: only the DNS answer the agent got can name the address.
    const byName = await ssh('shell.test');
    expect(byName.stdout).toBe('hi\n');
    const event = await eventually((e) => transparent(e) && e.event?.action === 'flow.allowed' && e.destination?.domain === 'shell.test' && e.destination.port === 22);
    expect(event.destination?.ip).toBe(shell);
    expect(sshdConnectionsTo(shell)).toBe(1);
  });

  it('detects a DNS-tunnel-like burst of encoded names under an allowed domain and refuses it', async () => {
    const names = Array.from({ length: 40 }, () => `${randomBytes(16).toString('hex')}.t.named.test A`);
    const batch = path.join(lab.dir, 'burst.txt');
    writeFileSync(batch, `${names.join('\n')}\n`);
    await dig(['+short', '-f', batch]);
    const detection = await eventually((e) => e.event?.action === 'detection.dns_tunnel');
    expect(detection.destination?.domain).toMatch(/\.t\.named\.test$/);
    const after = await dig([`${randomBytes(16).toString('hex')}.t.named.test`, 'A']);
    expect(after.stdout).toMatch(/status: REFUSED/);
    expect(after.stdout).toMatch(/EDE: 15/);
  });

  // --- helpers needing the lab ---

  function ssh(address: string) {
    return inAgent([
      'ssh', '-F', '/dev/null', '-i', path.join(sshDir, 'client'),
      '-o', 'IdentitiesOnly=yes', '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no',
      '-o', 'UserKnownHostsFile=/dev/null', '-o', 'ConnectTimeout=15',
      `root@${address}`, 'echo', 'hi',
    ]);
  }

  function sshdConnectionsTo(address: string): number {
    const log = spawnSync('cat', [path.join(sshDir, 'sshd.log')], { encoding: 'utf8' }).stdout;
    return log.split('\n').filter((line) => line.includes(`on ${address} port 22`) && line.includes('Connection from')).length;
  }
});

/** OpenSSH's sshd on port 22 of every internet address, key login for root, logging each connection. */
async function startSshd(lab: SidecarLab, dir: string): Promise<void> {
  mkdirSync(dir, { mode: 0o700 });
  if (!existsSync('/run/sshd')) mkdirSync('/run/sshd', { mode: 0o755 });
  for (const key of ['host', 'client']) {
    const made = spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(dir, key)]);
    if (made.status !== 0) throw new Error(`ssh-keygen: ${made.stderr.toString()}`);
  }
  const authorized = path.join(dir, 'authorized_keys');
  writeFileSync(authorized, spawnSync('cat', [path.join(dir, 'client.pub')], { encoding: 'utf8' }).stdout);
  chmodSync(authorized, 0o600);
  const config = path.join(dir, 'sshd_config');
  writeFileSync(config, [
    `HostKey ${path.join(dir, 'host')}`, 'UsePAM no', 'PidFile none', 'ListenAddress 0.0.0.0', 'Port 22',
    `AuthorizedKeysFile ${authorized}`, 'StrictModes no', 'PasswordAuthentication no', 'KbdInteractiveAuthentication no',
    'PermitRootLogin prohibit-password', 'LogLevel VERBOSE', '',
  ].join('\n'));
  const sshd = lab.topology.spawnIn(lab.topology.internetNs, ['/usr/sbin/sshd', '-D', '-f', config, '-E', path.join(dir, 'sshd.log')]);
  // sshd -D -E logs "Server listening" once bound.
  for (let attempt = 0; attempt < 100; attempt += 1) {
    if (sshd.exitCode !== null) throw new Error('sshd exited at start');
    const log = spawnSync('cat', [path.join(dir, 'sshd.log')], { encoding: 'utf8' }).stdout ?? '';
    if (log.includes('Server listening')) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error('sshd did not start listening');
}

/** Packet count of the CHOKEPOINT_DROP rule with this comment, from `iptables -L -v -x -n`. */
function packetsOf(listing: string, comment: string): number {
  const line = listing.split('\n').find((candidate) => candidate.includes(`/* ${comment} */`));
  return line ? Number(line.trim().split(/\s+/)[0]) : 0;
}
