import { describe, expect, it } from 'vitest';
import { parseIpLiteral } from '../../../src/net/address.js';
import { specialRangeOf } from '../../../src/net/special-ranges.js';
import type { CompiledAgent } from '../../../src/policy/compiled-agent.js';
import type { Decision } from '../../../src/policy/types.js';
import { agentPolicy, coder, compiled, rule, ruleSet } from './policy-fixtures.js';

const GITHUB = '140.82.112.3';
const CLOUDFLARE_V6 = '2606:4700::1111';

/** The special-range table's wording for an address (net/special-ranges.ts owns it). */
function rangeReason(address: string): string {
  const parsed = parseIpLiteral(address);
  return (parsed && specialRangeOf(parsed)?.reason) ?? 'not special';
}

function decide(agent: CompiledAgent, host: string | undefined, addresses: string[], port: number): Decision {
  return agent.decide({ host, addresses, port });
}

describe('host rules', () => {
  const agent = coder([rule('allow', 'github.com', '443'), rule('allow', '*.github.com', '443')]);

  it('allow an exact host with the rule id that matched', () => {
    const exact = agent.decide({ host: 'github.com', addresses: [GITHUB], port: 443 });
    expect(exact).toEqual({ action: 'allow', rule: 'allow.0' });
  });

  it('allow a subdomain through "*.github.com" and the apex only through "github.com"', () => {
    expect(decide(agent, 'api.github.com', [GITHUB], 443).rule).toBe('allow.1');
    const wildcardOnly = coder([rule('allow', '*.github.com', '443')]);
    expect(decide(wildcardOnly, 'github.com', [GITHUB], 443).rule).toBe('default-deny');
  });

  it('only allow the ports the rule lists', () => {
    expect(decide(agent, 'github.com', [GITHUB], 22).rule).toBe('default-deny');
    const ranged = coder([rule('allow', 'build.example', '8000-8999')]);
    expect(decide(ranged, 'build.example', [GITHUB], 8000).action).toBe('allow');
    expect(decide(ranged, 'build.example', [GITHUB], 8999).action).toBe('allow');
    expect(decide(ranged, 'build.example', [GITHUB], 9000).action).toBe('deny');
  });

  it('never let "*" match an IP literal, even one passed as a host', () => {
    const anyName = coder([rule('allow', '*', '443')]);
    expect(decide(anyName, 'example.org', ['8.8.8.8'], 443).action).toBe('allow');
    expect(decide(anyName, undefined, ['8.8.8.8'], 443).rule).toBe('default-deny');
    expect(decide(anyName, '8.8.8.8', ['8.8.8.8'], 443).rule).toBe('default-deny');
  });
});

describe('precedence', () => {
  it('deny beats alert beats allow', () => {
    const all = coder([
      rule('allow', 'pool.example', '443', { id: 'a' }),
      rule('alert', 'pool.example', '443', { id: 'b', reason: 'mining pool' }),
      rule('deny', 'pool.example', '443', { id: 'c', reason: 'no mining' }),
    ]);
    expect(decide(all, 'pool.example', ['8.8.8.8'], 443)).toEqual({ action: 'deny', rule: 'c', reason: 'no mining' });
    const alertAndAllow = coder([
      rule('allow', 'pool.example', '443', { id: 'a' }),
      rule('alert', '*.example', '443', { id: 'b', reason: 'mining pool' }),
    ]);
    expect(decide(alertAndAllow, 'x.pool.example', ['8.8.8.8'], 443)).toEqual({
      action: 'alert',
      rule: 'b',
      reason: 'mining pool',
    });
  });

  it('a less specific deny still beats a more specific allow', () => {
    const agent = coder([rule('allow', 'api.github.com', '443'), rule('deny', '*.github.com', '*', { id: 'd' })]);
    expect(decide(agent, 'api.github.com', [GITHUB], 443).rule).toBe('d');
  });

  it('a deny rule on other ports does not deny', () => {
    const agent = coder([rule('allow', 'github.com', '443', { id: 'a' }), rule('deny', 'github.com', '22')]);
    expect(decide(agent, 'github.com', [GITHUB], 443).rule).toBe('a');
  });

  it('writes a reason for a deny rule that has none', () => {
    const agent = coder([rule('deny', 'evil.example', '*', { id: 'd' })]);
    expect(decide(agent, 'evil.example', ['8.8.8.8'], 443).reason).toBe(
      'evil.example:443 is denied for agent coder-7 by rule d',
    );
  });
});

describe('cidr rules', () => {
  it('deny when any address is inside a deny cidr', () => {
    const agent = coder([rule('allow', '*', '443'), rule('deny', '8.8.8.0/24', '*', { id: 'd' })]);
    expect(decide(agent, 'dns.example', ['1.1.1.1', '8.8.8.8'], 443).rule).toBe('d');
  });

  it('allow only when every address is covered, possibly by different rules', () => {
    const agent = coder([
      rule('allow', '8.8.8.0/24', '443', { id: 'a' }),
      rule('allow', '1.1.1.0/24', '443', { id: 'b' }),
    ]);
    expect(decide(agent, 'dns.example', ['1.1.1.1', '8.8.8.8'], 443)).toEqual({ action: 'allow', rule: 'b' });
    expect(decide(agent, 'dns.example', ['1.1.1.1', '9.9.9.9'], 443).rule).toBe('default-deny');
  });

  it('report the most specific cidr rule', () => {
    const agent = coder([
      rule('allow', '8.0.0.0/8', '443', { id: 'wide' }),
      rule('allow', '8.8.8.8/32', '443', { id: 'narrow' }),
    ]);
    expect(decide(agent, undefined, ['8.8.8.8'], 443).rule).toBe('narrow');
  });

  it('alert when alert cidrs cover every address', () => {
    const agent = coder([rule('allow', '*', '443'), rule('alert', '8.8.0.0/16', '443', { id: 'al' })]);
    expect(decide(agent, 'dns.example', ['8.8.8.8', '8.8.4.4'], 443).rule).toBe('al');
    expect(decide(agent, 'dns.example', ['8.8.8.8', '1.1.1.1'], 443).action).toBe('allow');
  });

  it('match IPv6 addresses', () => {
    const agent = coder([
      rule('allow', '2606:4700::/32', '443', { id: 'cf' }),
      rule('deny', '2606:4700:10::/48', '*', { id: 'd' }),
    ]);
    expect(decide(agent, undefined, [CLOUDFLARE_V6], 443).rule).toBe('cf');
    expect(decide(agent, undefined, ['2606:4700:10::1'], 443).rule).toBe('d');
    expect(decide(agent, undefined, ['2607::1'], 443).rule).toBe('default-deny');
  });

  it('judge IPv4-mapped addresses as their IPv4 address, and mapped rules as IPv4 rules', () => {
    const v4Rule = coder([rule('allow', '8.8.8.0/24', '443', { id: 'v4' })]);
    expect(decide(v4Rule, undefined, ['::ffff:8.8.8.8'], 443).rule).toBe('v4');
    const mappedRule = coder([rule('allow', '::ffff:8.8.8.0/120', '443', { id: 'mapped' })]);
    expect(decide(mappedRule, undefined, ['8.8.8.8'], 443).rule).toBe('mapped');
    const v4Deny = coder([rule('allow', '*', '443'), rule('deny', '8.8.8.8/32', '*', { id: 'd' })]);
    expect(decide(v4Deny, 'dns.example', ['::ffff:8.8.8.8'], 443).rule).toBe('d');
    expect(decide(v4Deny, 'dns.example', ['64:ff9b::808:808'], 443).rule).toBe('d');
  });

  it('match an IPv6 rule over 6to4 space against the address as written', () => {
    const agent = coder([rule('allow', '*', '443'), rule('deny', '2002::/16', '*', { id: 'no-6to4' })]);
    expect(decide(agent, 'x.example', ['2002:808:808::1'], 443).rule).toBe('no-6to4');
  });
});

describe('SSRF vetting', () => {
  const hostOnly = coder([rule('allow', 'internal.example', '443')]);

  it('refuses a name that resolves to a private address, naming the address and the range', () => {
    const decision = decide(hostOnly, 'internal.example', ['10.0.0.5'], 443);
    expect(decision).toMatchObject({ action: 'deny', rule: 'ssrf.private' });
    expect(decision.refusedAddress).toEqual({ address: '10.0.0.5', range: 'private' });
    expect(decision.reason).toBe(
      `internal.example resolves to 10.0.0.5, which ${rangeReason('10.0.0.5')}; ` +
        'agent coder-7 may reach addresses in 10.0.0.0/8 only through a cidr rule that lies inside that range',
    );
  });

  it('refuses the whole flow when one of the resolved addresses is private', () => {
    const agent = coder([rule('allow', '*', '443')]);
    const decision = decide(agent, 'rebind.example', ['8.8.8.8', '192.168.1.10'], 443);
    expect(decision.rule).toBe('ssrf.private');
    expect(decision.refusedAddress).toEqual({ address: '192.168.1.10', range: 'private' });
  });

  it('is unlocked by an allow or alert cidr rule inside the range, on that port', () => {
    const unlocked = coder([
      rule('allow', 'internal.example', '443', { id: 'h' }),
      rule('allow', '10.0.0.0/24', '443'),
    ]);
    expect(decide(unlocked, 'internal.example', ['10.0.0.5'], 443).rule).toBe('h');
    const byAlert = coder([rule('alert', '10.0.0.0/8', '443', { id: 'al' })]);
    expect(decide(byAlert, undefined, ['10.0.0.5'], 443).rule).toBe('al');
    expect(decide(coder([]), undefined, ['127.0.0.1'], 443).reason).toMatch(`127.0.0.1 ${rangeReason('127.0.0.1')}; `);
    expect(decide(unlocked, 'internal.example', ['10.0.0.5'], 8443).rule).toBe('ssrf.private');
  });

  it('is not unlocked by a host rule alone, by 0.0.0.0/0, or by a block wider than the range', () => {
    expect(decide(hostOnly, 'internal.example', ['10.0.0.5'], 443).rule).toBe('ssrf.private');
    const everything = coder([rule('allow', '0.0.0.0/0', '443')]);
    expect(decide(everything, undefined, ['10.0.0.5'], 443).rule).toBe('ssrf.private');
    expect(decide(everything, undefined, ['8.8.8.8'], 443).action).toBe('allow');
    const wider = coder([rule('allow', '10.0.0.0/7', '443')]);
    expect(decide(wider, undefined, ['10.0.0.5'], 443).rule).toBe('ssrf.private');
  });

  it('unlocks the metadata address only through a rule for that address', () => {
    const linkLocal = coder([rule('allow', '169.254.0.0/16', '80')]);
    expect(decide(linkLocal, undefined, ['169.254.169.254'], 80).rule).toBe('ssrf.metadata');
    expect(decide(linkLocal, undefined, ['169.254.1.1'], 80).action).toBe('allow');
    const exact = coder([rule('allow', '169.254.169.254/32', '80')]);
    expect(decide(exact, undefined, ['169.254.169.254'], 80).action).toBe('allow');
  });

  it('sees private addresses inside mapped, NAT64 and 6to4 spellings', () => {
    const agent = coder([rule('allow', '*', '443'), rule('allow', '::/0', '443')]);
    expect(decide(agent, 'a.example', ['::ffff:127.0.0.1'], 443).rule).toBe('ssrf.loopback');
    expect(decide(agent, undefined, ['64:ff9b::a00:1'], 443).rule).toBe('ssrf.private');
    expect(decide(agent, undefined, ['2002:a00:1::1'], 443).rule).toBe('ssrf.private');
    const mappedUnlock = coder([rule('allow', '::ffff:10.0.0.0/120', '443')]);
    expect(decide(mappedUnlock, undefined, ['10.0.0.1'], 443).action).toBe('allow');
  });

  it('refuses IPv6 special addresses', () => {
    const agent = coder([rule('allow', '::/0', '443'), rule('allow', '*', '443')]);
    expect(decide(agent, undefined, ['::1'], 443).rule).toBe('ssrf.loopback');
    expect(decide(agent, 'a.example', ['fd12::1'], 443).rule).toBe('ssrf.private');
    const unlocked = coder([rule('allow', 'fd12::/16', '443')]);
    expect(decide(unlocked, undefined, ['fd12::1'], 443).action).toBe('allow');
  });

  it('comes after deny rules', () => {
    const agent = coder([rule('allow', '10.0.0.0/24', '443'), rule('deny', '10.0.0.5/32', '*', { id: 'd' })]);
    expect(decide(agent, undefined, ['10.0.0.5'], 443).rule).toBe('d');
  });
});

describe('global deny', () => {
  const globalDeny = [
    rule('deny', '*.pool.example', '*', { id: 'g-host', reason: 'mining pools are blocked everywhere' }),
    rule('deny', '203.0.113.0/24', '*', { id: 'g-net' }),
  ];
  const agent = coder([rule('allow', '*', '443'), rule('allow', '203.0.113.0/24', '443')], globalDeny);

  it('beats every agent rule, by host or by address', () => {
    expect(decide(agent, 'xmr.pool.example', ['8.8.8.8'], 443)).toEqual({
      action: 'deny',
      rule: 'g-host',
      reason: 'mining pools are blocked everywhere',
    });
    const byAddress = decide(agent, 'ok.example', ['8.8.8.8', '203.0.113.9'], 443);
    expect(byAddress).toMatchObject({ action: 'deny', rule: 'g-net' });
    expect(byAddress.reason).toBe('ok.example:443 is denied for every agent by rule g-net');
  });

  it('applies before the name is resolved', () => {
    expect(agent.checkName('xmr.pool.example', 443)).toMatchObject({ kind: 'denied', decision: { rule: 'g-host' } });
  });
});

describe('default deny', () => {
  it('tells the agent what it may reach instead', () => {
    const agent = coder([
      rule('allow', '*.github.com', '443'),
      rule('allow', 'github.com', '22'),
      rule('deny', 'x.example', '*'),
    ]);
    expect(decide(agent, 'example.com', ['8.8.8.8'], 443)).toEqual({
      action: 'deny',
      rule: 'default-deny',
      reason: 'no rule allows example.com:443 for agent coder-7; allowed: *.github.com:443, github.com:22',
    });
  });

  it('lists only the first few allowed patterns', () => {
    const many = Array.from({ length: 8 }, (_, i) => rule('allow', `h${i}.example`, '80,443'));
    const reason = decide(coder([...many, rule('alert', '2606:4700::/32', '443')]), undefined, ['8.8.8.8'], 22).reason;
    expect(reason).toBe(
      'no rule allows 8.8.8.8:22 for agent coder-7; allowed: h0.example:80,443, h1.example:80,443, ' +
        'h2.example:80,443, h3.example:80,443, h4.example:80,443, … (4 more)',
    );
  });

  it('says so when the agent may reach nothing', () => {
    expect(decide(coder([]), undefined, [CLOUDFLARE_V6], 443).reason).toBe(
      `no rule allows [${CLOUDFLARE_V6}]:443 for agent coder-7; allowed: nothing (this agent has no allow rules)`,
    );
  });
});

describe('name phase (before DNS)', () => {
  it('denies for good a name a deny rule matches', () => {
    const agent = coder([rule('allow', '*', '443'), rule('deny', 'evil.example', '*', { id: 'd' })]);
    const check = agent.checkName('evil.example', 443);
    expect(check).toMatchObject({ kind: 'denied', decision: { action: 'deny', rule: 'd' } });
  });

  it('asks to resolve a name a host rule allows or alerts on', () => {
    const agent = coder([rule('allow', 'github.com', '443'), rule('alert', 'pool.example', '3333')]);
    expect(agent.checkName('github.com', 443)).toEqual({ kind: 'resolve' });
    expect(agent.checkName('pool.example', 3333)).toEqual({ kind: 'resolve' });
  });

  it('asks to resolve when a cidr rule on that port could allow the addresses', () => {
    const agent = coder([rule('allow', '10.0.0.0/24', '5432')]);
    expect(agent.checkName('db.internal', 5432)).toEqual({ kind: 'resolve' });
    expect(agent.checkName('db.internal', 443)).toMatchObject({ kind: 'denied', decision: { rule: 'default-deny' } });
  });

  it('does not resolve a name nothing could allow', () => {
    const agent = coder([rule('allow', 'github.com', '443')]);
    const check = agent.checkName('example.com', 443);
    expect(check).toMatchObject({ kind: 'denied', decision: { rule: 'default-deny' } });
  });
});

describe('addresses the caller passes', () => {
  const agent = coder([rule('allow', '*', '443'), rule('deny', 'evil.example', '*', { id: 'd' })]);

  it('refuse a flow with no addresses, after the name denials', () => {
    expect(decide(agent, 'ok.example', [], 443)).toEqual({
      action: 'deny',
      rule: 'no-address',
      reason: 'ok.example:443 did not resolve to any address',
    });
    expect(decide(agent, 'evil.example', [], 443).rule).toBe('d');
  });

  it('are judged the same however many other addresses went by (the parse cache empties when full)', () => {
    const anyAddress = coder([rule('allow', '0.0.0.0/0', '443'), rule('deny', '8.8.8.8/32', '*', { id: 'd' })]);
    expect(decide(anyAddress, undefined, ['8.8.8.8'], 443).rule).toBe('d');
    for (let i = 0; i < 20_000; i++) {
      const address = `11.${(i >> 8) & 255}.${i & 255}.1`;
      expect(decide(anyAddress, undefined, [address], 443).action).toBe('allow');
    }
    expect(decide(anyAddress, undefined, ['8.8.8.8'], 443).rule).toBe('d');
    expect(decide(anyAddress, undefined, ['10.0.0.1'], 443).rule).toBe('ssrf.private');
  });

  it('refuse text that is not an IP address', () => {
    const decision = decide(agent, 'ok.example', ['8.8.8.8', 'not-an-ip'], 443);
    expect(decision).toMatchObject({ action: 'deny', rule: 'invalid-address' });
  });
});

describe('unknown agents', () => {
  const coderPolicy = agentPolicy('coder-7', [rule('allow', 'github.com', '443')]);
  const globalDeny = [rule('deny', 'evil.example', '*', { id: 'g' })];

  it('get the built-in deny-all policy when unknownAgent is "deny"', () => {
    const policy = compiled(ruleSet([coderPolicy], globalDeny, 'deny'));
    expect(policy.agent('nobody')).toBeUndefined();
    const unknown = policy.unknownAgent;
    expect(unknown.checkName('github.com', 443)).toMatchObject({ kind: 'denied', decision: { rule: 'unknown-agent' } });
    expect(unknown.decide({ host: 'github.com', addresses: [GITHUB], port: 443 })).toMatchObject({
      action: 'deny',
      rule: 'unknown-agent',
    });
    expect(unknown.decide({ host: 'evil.example', addresses: [GITHUB], port: 443 }).rule).toBe('g');
  });

  it('get the named agent policy otherwise', () => {
    const policy = compiled(ruleSet([coderPolicy], [], 'coder-7'));
    expect(policy.unknownAgent.name).toBe('coder-7');
    expect(policy.unknownAgent.decide({ host: 'github.com', addresses: [GITHUB], port: 443 }).action).toBe('allow');
  });
});
