/**
 * SO_ORIGINAL_DST through koffi against the real kernel: in a namespace of its own, iptables and
 * ip6tables REDIRECT port 9 to a dual-stack listener, which reads back where each connection was
 * going — IPv4 (accepted as ::ffff:a.b.c.d, read at SOL_IP) and IPv6 (read at SOL_IPV6).
 *
 * Needs root and iproute2 / iptables; skipped with the reason otherwise.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../bench/netns/sidecar-lab.js';
import { netnsUnavailable } from '../../bench/netns/topology.js';

const unavailable = netnsUnavailable();
const MODULE = path.join(REPO_ROOT, 'dist', 'src', 'net', 'original-destination.js');

const SCRIPT = `
import net from 'node:net';
const { originalDestination } = await import(process.argv[1]);
const seen = [];
const server = net.createServer((socket) => { seen.push(originalDestination(socket)); socket.destroy(); });
await new Promise((resolve) => server.listen(15001, '::', resolve));
for (const host of ['5.0.0.1', '2001:db8::1']) {
  await new Promise((resolve) => { const client = net.connect(9, host); client.on('close', resolve); client.on('error', resolve); });
}
// A connection straight to the listener: not redirected.
await new Promise((resolve) => { const client = net.connect(15001, '127.0.0.1'); client.on('close', resolve); client.on('error', resolve); });
server.close();
process.stdout.write(JSON.stringify(seen));
`;

describe.skipIf(unavailable !== undefined)('SO_ORIGINAL_DST in a network namespace', () => {
  it('reads the pre-REDIRECT destination of IPv4 and IPv6 connections', () => {
    const ns = `cp-odst-${randomBytes(3).toString('hex')}`;
    const inNs = (...argv: string[]) => spawnSync('ip', ['netns', 'exec', ns, ...argv], { encoding: 'utf8', timeout: 20_000 });
    expect(spawnSync('ip', ['netns', 'add', ns]).status).toBe(0);
    try {
      for (const argv of [
        ['ip', 'link', 'set', 'lo', 'up'],
        ['ip', 'addr', 'add', '5.0.0.1/32', 'dev', 'lo'],
        ['ip', 'addr', 'add', '2001:db8::1/128', 'dev', 'lo', 'nodad'],
        ['iptables', '-t', 'nat', '-A', 'OUTPUT', '-p', 'tcp', '--dport', '9', '-j', 'REDIRECT', '--to-ports', '15001'],
        ['ip6tables', '-t', 'nat', '-A', 'OUTPUT', '-p', 'tcp', '--dport', '9', '-j', 'REDIRECT', '--to-ports', '15001'],
      ]) {
        const result = inNs(...argv);
        expect(result.status, `${argv.join(' ')}: ${result.stderr}`).toBe(0);
      }
      const run = inNs(process.execPath, '--input-type=module', '-e', SCRIPT, MODULE);
      expect(run.stderr).toBe('');
      const seen = JSON.parse(run.stdout) as unknown[];
      expect(seen[0]).toEqual({ ok: true, address: '5.0.0.1', port: 9 });
      expect(seen[1]).toEqual({ ok: true, address: '2001:db8::1', port: 9 });
      // Not redirected: conntrack has the connection with its destination unchanged, i.e. the listener.
      expect(seen[2]).toEqual({ ok: true, address: '127.0.0.1', port: 15001 });
    } finally {
      spawnSync('ip', ['netns', 'del', ns]);
    }
  });
});
