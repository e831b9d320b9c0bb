import { describe, expect, it } from 'vitest';
import { installPlan, removePlan, renderStep, validateOptions, type IptablesOptions } from '../../../src/iptables/plan.js';

const SIDECAR: IptablesOptions = { mode: 'sidecar', proxyUid: 990, transparentPort: 15001, dnsPort: 15053 };
const GATEWAY: IptablesOptions = { mode: 'gateway', transparentPort: 15001, dnsPort: 15053, agentInterface: 'eth1' };

const render = (options: IptablesOptions): string[] => installPlan(options).map(renderStep);

describe('installPlan', () => {
  it('sidecar, IPv4: redirects DNS and TCP on nat OUTPUT, drops and counts the rest on filter OUTPUT', () => {
    expect(render(SIDECAR).slice(0, 3)).toEqual([
      `iptables-restore --noflush <<'EOF'
*nat
:CHOKEPOINT_OUT - [0:0]
-A CHOKEPOINT_OUT -m owner --uid-owner 990 -j RETURN
-A CHOKEPOINT_OUT -p udp --dport 53 -j REDIRECT --to-ports 15053
-A CHOKEPOINT_OUT -p tcp --dport 53 -j REDIRECT --to-ports 15053
-A CHOKEPOINT_OUT -o lo -j RETURN
-A CHOKEPOINT_OUT -p tcp -j REDIRECT --to-ports 15001
COMMIT
*filter
:CHOKEPOINT_FILTER - [0:0]
:CHOKEPOINT_DROP - [0:0]
-A CHOKEPOINT_FILTER -m owner --uid-owner 990 -j RETURN
-A CHOKEPOINT_FILTER -o lo -j RETURN
-A CHOKEPOINT_FILTER -m conntrack --ctstate DNAT -j RETURN
-A CHOKEPOINT_FILTER -j CHOKEPOINT_DROP
-A CHOKEPOINT_DROP -p udp --dport 443 -m comment --comment "chokepoint: QUIC" -j DROP
-A CHOKEPOINT_DROP -p udp -m comment --comment "chokepoint: UDP" -j DROP
-A CHOKEPOINT_DROP -p tcp -m comment --comment "chokepoint: TCP not redirected" -j DROP
-A CHOKEPOINT_DROP -m comment --comment "chokepoint: other protocols" -j DROP
COMMIT
EOF`,
      'iptables -t nat -C OUTPUT -j CHOKEPOINT_OUT 2>/dev/null || iptables -t nat -I OUTPUT 1 -j CHOKEPOINT_OUT',
      'iptables -t filter -C OUTPUT -j CHOKEPOINT_FILTER 2>/dev/null || iptables -t filter -I OUTPUT 1 -j CHOKEPOINT_FILTER',
    ]);
  });

  it('sidecar, IPv6: the same rules, plus neighbour discovery (without it nothing leaves, the proxy included)', () => {
    const steps = render(SIDECAR);
    expect(steps).toHaveLength(18);
    const v6 = steps[9] ?? '';
    expect(v6.startsWith("ip6tables-restore --noflush <<'EOF'\n")).toBe(true);
    expect(v6).toContain(`-A CHOKEPOINT_FILTER -m conntrack --ctstate DNAT -j RETURN
-A CHOKEPOINT_FILTER -p ipv6-icmp --icmpv6-type router-solicitation -j RETURN
-A CHOKEPOINT_FILTER -p ipv6-icmp --icmpv6-type neighbour-solicitation -j RETURN
-A CHOKEPOINT_FILTER -p ipv6-icmp --icmpv6-type neighbour-advertisement -j RETURN
-A CHOKEPOINT_FILTER -j CHOKEPOINT_DROP
`);
    expect(steps.slice(10, 12)).toEqual([
      'ip6tables -t nat -C OUTPUT -j CHOKEPOINT_OUT 2>/dev/null || ip6tables -t nat -I OUTPUT 1 -j CHOKEPOINT_OUT',
      'ip6tables -t filter -C OUTPUT -j CHOKEPOINT_FILTER 2>/dev/null || ip6tables -t filter -I OUTPUT 1 -j CHOKEPOINT_FILTER',
    ]);
  });

  it('gateway: PREROUTING from the agents interface, the gateway\'s own addresses left alone, FORWARD dropped', () => {
    const steps = render(GATEWAY);
    expect(steps[0]).toContain(`*nat
:CHOKEPOINT_PRE - [0:0]
-A CHOKEPOINT_PRE -p udp --dport 53 -j REDIRECT --to-ports 15053
-A CHOKEPOINT_PRE -p tcp --dport 53 -j REDIRECT --to-ports 15053
-A CHOKEPOINT_PRE -m addrtype --dst-type LOCAL -j RETURN
-A CHOKEPOINT_PRE -p tcp -j REDIRECT --to-ports 15001
COMMIT
*filter
:CHOKEPOINT_FWD - [0:0]
:CHOKEPOINT_DROP - [0:0]
-A CHOKEPOINT_FWD -j CHOKEPOINT_DROP
`);
    expect(steps.slice(1, 3)).toEqual([
      'iptables -t nat -C PREROUTING -i eth1 -j CHOKEPOINT_PRE 2>/dev/null || iptables -t nat -I PREROUTING 1 -i eth1 -j CHOKEPOINT_PRE',
      'iptables -t filter -C FORWARD -i eth1 -j CHOKEPOINT_FWD 2>/dev/null || iptables -t filter -I FORWARD 1 -i eth1 -j CHOKEPOINT_FWD',
    ]);
    const { agentInterface: _, ...anyInterface } = GATEWAY;
    expect(render(anyInterface)[1]).toBe('iptables -t nat -C PREROUTING ! -i lo -j CHOKEPOINT_PRE 2>/dev/null || iptables -t nat -I PREROUTING 1 ! -i lo -j CHOKEPOINT_PRE');
  });

  it('then removes the jumps and chains an install with other options left (another mode, another interface), keeping its own', () => {
    const sidecar = installPlan(SIDECAR).filter((step) => step.family === 4);
    expect(sidecar.map((step) => step.kind)).toEqual(['restore', 'ensure-jump', 'ensure-jump', 'remove-jumps', 'remove-jumps', 'remove-jumps', 'remove-jumps', 'delete-chain', 'delete-chain']);
    expect(sidecar.slice(3)).toEqual([
      { kind: 'remove-jumps', family: 4, table: 'nat', chain: 'OUTPUT', target: 'CHOKEPOINT_OUT', keep: ['-j', 'CHOKEPOINT_OUT'] },
      { kind: 'remove-jumps', family: 4, table: 'nat', chain: 'PREROUTING', target: 'CHOKEPOINT_PRE' },
      { kind: 'remove-jumps', family: 4, table: 'filter', chain: 'OUTPUT', target: 'CHOKEPOINT_FILTER', keep: ['-j', 'CHOKEPOINT_FILTER'] },
      { kind: 'remove-jumps', family: 4, table: 'filter', chain: 'FORWARD', target: 'CHOKEPOINT_FWD' },
      { kind: 'delete-chain', family: 4, table: 'nat', chain: 'CHOKEPOINT_PRE' },
      { kind: 'delete-chain', family: 4, table: 'filter', chain: 'CHOKEPOINT_FWD' },
    ]);
    const gateway = render(GATEWAY);
    expect(gateway[3]).toBe("iptables -t nat -S OUTPUT | sed -n 's/^-A \\(.* -j CHOKEPOINT_OUT\\)$/\\1/p' | while read -r rule; do iptables -t nat -D $rule; done");
    expect(gateway[4]).toBe("iptables -t nat -S PREROUTING | grep -vxF -- '-A PREROUTING -i eth1 -j CHOKEPOINT_PRE' | sed -n 's/^-A \\(.* -j CHOKEPOINT_PRE\\)$/\\1/p' | while read -r rule; do iptables -t nat -D $rule; done");
    // New jumps are in place before any old one goes: the covered traffic is never let through.
    const kinds = installPlan(GATEWAY).map((step) => step.kind);
    expect(kinds.indexOf('ensure-jump')).toBeLessThan(kinds.indexOf('remove-jumps'));
  });

  it('sidecar with an admin port: refuses it on loopback to all but the proxy user, before loopback is let through', () => {
    const restore = render({ ...SIDECAR, adminPort: 9901 })[0] ?? '';
    expect(restore).toContain(`-A CHOKEPOINT_FILTER -m owner --uid-owner 990 -j RETURN
-A CHOKEPOINT_FILTER -o lo -p tcp --dport 9901 -m comment --comment "chokepoint: admin API" -j REJECT --reject-with tcp-reset
-A CHOKEPOINT_FILTER -o lo -j RETURN
`);
    expect(render(SIDECAR)[0]).not.toContain('admin API');
    expect(validateOptions({ ...SIDECAR, adminPort: 0 })).toBe('admin port 0 is not a port (1-65535)');
  });

  it('uses the ports it is given', () => {
    expect(render({ ...SIDECAR, transparentPort: 4000, dnsPort: 5300 })[0]).toContain('--dport 53 -j REDIRECT --to-ports 5300\n');
    expect(render({ ...SIDECAR, transparentPort: 4000, dnsPort: 5300 })[0]).toContain('-p tcp -j REDIRECT --to-ports 4000\n');
  });
});

describe('removePlan', () => {
  it('removes every jump to our chains in both families, then the chains, whatever the mode installed', () => {
    const steps = removePlan().map(renderStep);
    expect(steps).toHaveLength(18);
    expect(steps.slice(0, 9)).toEqual([
      "iptables -t nat -S OUTPUT | sed -n 's/^-A \\(.* -j CHOKEPOINT_OUT\\)$/\\1/p' | while read -r rule; do iptables -t nat -D $rule; done",
      "iptables -t nat -S PREROUTING | sed -n 's/^-A \\(.* -j CHOKEPOINT_PRE\\)$/\\1/p' | while read -r rule; do iptables -t nat -D $rule; done",
      "iptables -t filter -S OUTPUT | sed -n 's/^-A \\(.* -j CHOKEPOINT_FILTER\\)$/\\1/p' | while read -r rule; do iptables -t filter -D $rule; done",
      "iptables -t filter -S FORWARD | sed -n 's/^-A \\(.* -j CHOKEPOINT_FWD\\)$/\\1/p' | while read -r rule; do iptables -t filter -D $rule; done",
      'if iptables -t nat -n -L CHOKEPOINT_OUT >/dev/null 2>&1; then iptables -t nat -F CHOKEPOINT_OUT; iptables -t nat -X CHOKEPOINT_OUT; fi',
      'if iptables -t nat -n -L CHOKEPOINT_PRE >/dev/null 2>&1; then iptables -t nat -F CHOKEPOINT_PRE; iptables -t nat -X CHOKEPOINT_PRE; fi',
      'if iptables -t filter -n -L CHOKEPOINT_FILTER >/dev/null 2>&1; then iptables -t filter -F CHOKEPOINT_FILTER; iptables -t filter -X CHOKEPOINT_FILTER; fi',
      'if iptables -t filter -n -L CHOKEPOINT_FWD >/dev/null 2>&1; then iptables -t filter -F CHOKEPOINT_FWD; iptables -t filter -X CHOKEPOINT_FWD; fi',
      'if iptables -t filter -n -L CHOKEPOINT_DROP >/dev/null 2>&1; then iptables -t filter -F CHOKEPOINT_DROP; iptables -t filter -X CHOKEPOINT_DROP; fi',
    ]);
    expect(steps.slice(9).every((step) => step.includes('ip6tables'))).toBe(true);
  });
});

describe('validateOptions', () => {
  it('accepts complete options', () => {
    expect(validateOptions(SIDECAR)).toBeUndefined();
    expect(validateOptions(GATEWAY)).toBeUndefined();
  });

  it('needs the proxy user in sidecar mode, and refuses root (everything root runs would bypass)', () => {
    const { proxyUid: _, ...withoutUser } = SIDECAR;
    expect(validateOptions(withoutUser)).toMatch(/--proxy-user/);
    expect(validateOptions({ ...SIDECAR, proxyUid: 0 })).toMatch(/must not be root/);
  });

  it('refuses ports out of range and interface names that could smuggle arguments', () => {
    expect(validateOptions({ ...SIDECAR, transparentPort: 0 })).toMatch(/transparent port 0/);
    expect(validateOptions({ ...SIDECAR, dnsPort: 70000 })).toMatch(/dns port 70000/);
    expect(validateOptions({ ...SIDECAR, transparentPort: Number.NaN })).toMatch(/transparent port NaN/);
    expect(validateOptions({ ...GATEWAY, agentInterface: 'eth0 -j ACCEPT' })).toMatch(/not an interface name/);
  });
});
