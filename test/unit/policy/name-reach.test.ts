import { describe, expect, it } from 'vitest';
import { nameReach, vetAnswerAddress, vetChainName } from '../../../src/policy/name-reach.js';
import { coder, rule } from './policy-fixtures.js';

describe('nameReach (DNS: may the agent resolve this name on any port?)', () => {
  it('resolves exact and wildcard names, not the wildcard apex nor other names', () => {
    const agent = coder([rule('allow', 'github.com', '443'), rule('allow', '*.githubusercontent.com', '443')]);
    expect(nameReach(agent, 'github.com').kind).toBe('resolvable');
    expect(nameReach(agent, 'raw.githubusercontent.com').kind).toBe('resolvable');
    const apex = nameReach(agent, 'githubusercontent.com');
    expect(apex.kind).toBe('denied');
    const other = nameReach(agent, 'example.com');
    expect(other).toMatchObject({ kind: 'denied', decision: { rule: 'default-deny' } });
    if (other.kind === 'denied') expect(other.decision.reason).toBe('no rule lets agent coder-7 reach example.com on any port; allowed: github.com:443, *.githubusercontent.com:443');
  });

  it('resolves a name allowed only on some ports, and lists those ports', () => {
    const agent = coder([rule('allow', 'git.example.com', '22'), rule('allow', 'git.example.com', '8000-8100')]);
    const reach = nameReach(agent, 'git.example.com');
    expect(reach.kind).toBe('resolvable');
    if (reach.kind === 'resolvable') expect(reach.ports).toEqual([22, 8000]);
  });

  it('a deny on some ports leaves the name resolvable on the others; a deny on all ports does not', () => {
    const partly = coder([rule('allow', 'api.example.com', '443,22'), rule('deny', 'api.example.com', '22')]);
    const reach = nameReach(partly, 'api.example.com');
    expect(reach).toMatchObject({ kind: 'resolvable', ports: [443] });
    const fully = coder([rule('allow', '*.example.com', '*'), rule('deny', 'gist.example.com', '*', { reason: 'gists exfiltrate' })]);
    expect(nameReach(fully, 'gist.example.com')).toMatchObject({ kind: 'denied', decision: { reason: 'gists exfiltrate' } });
  });

  it('global denies win over the agent', () => {
    const agent = coder([rule('allow', '*', '*')], [rule('deny', '*.onion', '*', { reason: 'no tor' })]);
    expect(nameReach(agent, 'abc.onion')).toMatchObject({ kind: 'denied', decision: { reason: 'no tor' } });
    expect(nameReach(agent, 'anything.example').kind).toBe('resolvable');
  });

  it('an allow CIDR makes every name resolvable (its addresses are vetted afterwards)', () => {
    const agent = coder([rule('allow', '10.20.0.0/16', '5432')]);
    expect(nameReach(agent, 'db.internal')).toMatchObject({ kind: 'resolvable', ports: [5432] });
  });
});

describe('vetAnswerAddress', () => {
  const agent = coder([rule('allow', 'app.example.com', '443'), rule('allow', 'db.example.com', '443'), rule('allow', '10.20.0.0/16', '443'), rule('deny', '140.82.0.0/16', '*')]);

  it('hands out public addresses, withholds special ranges and denied CIDRs', () => {
    expect(vetAnswerAddress(agent, 'app.example.com', '93.184.216.34', [443])).toBeUndefined();
    expect(vetAnswerAddress(agent, 'app.example.com', '169.254.169.254', [443])).toMatchObject({ rule: 'ssrf.metadata' });
    expect(vetAnswerAddress(agent, 'app.example.com', '127.0.0.1', [443])).toMatchObject({ rule: 'ssrf.loopback' });
    expect(vetAnswerAddress(agent, 'app.example.com', '::ffff:192.168.1.1', [443])).toMatchObject({ rule: 'ssrf.private' });
    expect(vetAnswerAddress(agent, 'app.example.com', '140.82.112.3', [443])?.rule).toMatch(/^deny\./);
  });

  it('hands out a private address a cidr rule inside the range covers', () => {
    expect(vetAnswerAddress(agent, 'db.example.com', '10.20.3.4', [443])).toBeUndefined();
    expect(vetAnswerAddress(agent, 'db.example.com', '10.21.3.4', [443])).toMatchObject({ rule: 'ssrf.private' });
  });
});

describe('vetChainName', () => {
  it('lets unlisted CDN names stand behind an allowed name, not denied ones', () => {
    const agent = coder([rule('allow', 'api.example.com', '443'), rule('deny', '*.ngrok.io', '*')], [rule('deny', '*.onion', '*')]);
    expect(vetChainName(agent, 'api.example.com.cdn.cloudflare.net', [443])).toBeUndefined();
    expect(vetChainName(agent, 'x.ngrok.io', [443])?.rule).toMatch(/^deny\./);
    expect(vetChainName(agent, 'hidden.onion', [443])?.rule).toMatch(/^deny\./);
  });
});
