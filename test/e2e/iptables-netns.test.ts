/**
 * `chokepoint iptables install|remove` applied for real, in a network namespace of its own: installing
 * twice gives the same rules, installing another mode or interface on top replaces the old jumps and chains, and removing leaves nothing of ours, for
 * IPv4 and IPv6. Needs root and iproute2 / iptables; skipped with the reason otherwise.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { netnsUnavailable } from '../../bench/netns/topology.js';
import { CLI_PATH, requireBuiltCli } from '../helpers/cli.js';

const unavailable = netnsUnavailable();

describe.skipIf(unavailable !== undefined)('chokepoint iptables in a network namespace', () => {
  it('installs idempotently and removes everything, in both families', () => {
    requireBuiltCli();
    const ns = `cp-ipt-${randomBytes(3).toString('hex')}`;
    const inNs = (...argv: string[]) => spawnSync('ip', ['netns', 'exec', ns, ...argv], { encoding: 'utf8', timeout: 20_000 });
    // The rules as listed, without the packet counters.
    const rules = (binary: string): string => inNs(`${binary}-save`).stdout.split('\n').filter((line) => !line.startsWith('#')).map((line) => line.replace(/\[\d+:\d+\]/g, '')).join('\n');
    expect(spawnSync('ip', ['netns', 'add', ns]).status).toBe(0);
    try {
      const install = ['iptables', 'install', '--mode', 'sidecar', '--proxy-user', '4242'];
      const first = inNs(process.execPath, CLI_PATH, ...install);
      expect(first.stderr).toBe('');
      expect(first.status).toBe(0);
      const once = { v4: rules('iptables'), v6: rules('ip6tables') };
      expect(once.v4).toContain('-A OUTPUT -j CHOKEPOINT_OUT');
      expect(once.v4).toContain('-A CHOKEPOINT_OUT -m owner --uid-owner 4242 -j RETURN');
      expect(once.v6).toContain('-A CHOKEPOINT_FILTER -p ipv6-icmp -m icmp6 --icmpv6-type 135 -j RETURN');

      expect(inNs(process.execPath, CLI_PATH, ...install).status).toBe(0);
      expect({ v4: rules('iptables'), v6: rules('ip6tables') }).toEqual(once);

      expect(inNs(process.execPath, CLI_PATH, 'iptables', 'install', '--mode', 'gateway', '--agent-interface', 'veth7').status).toBe(0);
      expect(rules('iptables')).toContain('-A PREROUTING -i veth7 -j CHOKEPOINT_PRE');
      // The sidecar's jumps and chains are gone: they would keep redirecting the gateway's own traffic.
      for (const family of ['iptables', 'ip6tables']) {
        expect(rules(family)).not.toContain('CHOKEPOINT_OUT');
        expect(rules(family)).not.toContain('CHOKEPOINT_FILTER');
      }
      // Another agent interface replaces the first, it is not added beside it.
      expect(inNs(process.execPath, CLI_PATH, 'iptables', 'install', '--mode', 'gateway', '--agent-interface', 'veth8').status).toBe(0);
      expect(rules('iptables')).toContain('-A PREROUTING -i veth8 -j CHOKEPOINT_PRE');
      expect(rules('iptables')).toContain('-A FORWARD -i veth8 -j CHOKEPOINT_FWD');
      expect(rules('iptables')).not.toContain('veth7');
      expect(rules('ip6tables')).not.toContain('veth7');
      // Without an interface: every one but loopback (a `!` in the rule is kept too).
      expect(inNs(process.execPath, CLI_PATH, 'iptables', 'install', '--mode', 'gateway').status).toBe(0);
      expect(inNs(process.execPath, CLI_PATH, 'iptables', 'install', '--mode', 'gateway').status).toBe(0);
      expect(rules('iptables').match(/-A PREROUTING ! -i lo -j CHOKEPOINT_PRE/g)).toHaveLength(1);
      expect(rules('iptables')).not.toContain('veth8');

      const removed = inNs(process.execPath, CLI_PATH, 'iptables', 'remove', '--mode', 'sidecar');
      expect(removed.status).toBe(0);
      expect(rules('iptables')).not.toContain('CHOKEPOINT');
      expect(rules('ip6tables')).not.toContain('CHOKEPOINT');
      // Removing again is fine: nothing to do.
      expect(inNs(process.execPath, CLI_PATH, 'iptables', 'remove', '--mode', 'sidecar').status).toBe(0);
    } finally {
      spawnSync('ip', ['netns', 'del', ns]);
    }
  });
});
