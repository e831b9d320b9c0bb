import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadRules } from '../../../src/config/load-rules.js';
import type { Resolution } from '../../../src/net/resolver.js';
import { buildSnapshot } from '../../../src/pipeline/build-snapshot.js';
import { dryRunDecision, type DryRunDeps, type DryRunOutcome } from '../../../src/pipeline/dry-run.js';
import type { PolicySnapshot } from '../../../src/pipeline/policy-snapshot.js';
import { DENY_UNKNOWN_POLICY, tempRules, type TempRules } from '../../helpers/rules.js';

/** The dry-run decision on real compiled rules; names resolve through a fixed table instead of DNS. */
describe('dryRunDecision', () => {
  let rules: TempRules;
  let snapshot: PolicySnapshot;
  const names = new Map<string, string[]>([
    ['api.example.test', ['93.184.215.10']],
    ['sneaky.example.test', ['93.184.215.11', '10.0.0.5']],
  ]);
  const resolve = async (host: string): Promise<Resolution> => {
    const addresses = names.get(host);
    return addresses ? { ok: true, addresses, source: 'hosts' } : { ok: false, code: 'NXDOMAIN', message: `${host} does not exist` };
  };

  beforeAll(async () => {
    rules = await tempRules(DENY_UNKNOWN_POLICY, {
      coder: `agent: coder
allow:
  - { host: api.example.test, ports: [443] }
  - { host: sneaky.example.test, ports: [443] }
  - { host: gone.example.test, ports: [443] }
  - { host: "*.http.example.test", ports: [8080], protocols: [http] }
`,
      watcher: 'agent: watcher\nmode: audit\nallow: []\n',
    });
    const loaded = await loadRules(rules.dir);
    if (!loaded.ok) throw new Error('rules did not load');
    const built = buildSnapshot(loaded.ruleSet);
    if (!built.ok) throw new Error(built.errors.join('\n'));
    snapshot = built.snapshot;
  });
  afterAll(() => rules.remove());

  const decide = (query: Parameters<typeof dryRunDecision>[1], extra: Partial<DryRunDeps> = {}): Promise<DryRunOutcome> =>
    dryRunDecision({ snapshot, resolve, ...extra }, query);

  it('allows what a rule allows, with the resolved addresses', async () => {
    expect(await decide({ agent: 'coder', host: 'api.example.test', port: 443 })).toMatchObject({
      ok: true,
      result: { action: 'allow', rule: 'coder.allow.0', stage: 'address', addresses: ['93.184.215.10'], enforced: false },
    });
  });

  it('refuses a name with one private address among its answers (SSRF vetting of every address)', async () => {
    const outcome = await decide({ agent: 'coder', host: 'sneaky.example.test', port: 443 });
    expect(outcome).toMatchObject({ ok: true, result: { action: 'deny', rule: 'ssrf.private', stage: 'address', enforced: true } });
  });

  it('reports a name that does not resolve as a dns denial', async () => {
    expect(await decide({ agent: 'coder', host: 'gone.example.test', port: 443 })).toMatchObject({ ok: true, result: { action: 'deny', rule: 'dns.nxdomain', stage: 'dns' } });
  });

  it('judges the protocol against the rule: http allowed, tls on an http-only rule refused', async () => {
    names.set('a.http.example.test', ['93.184.215.12']);
    expect(await decide({ agent: 'coder', host: 'a.http.example.test', port: 8080, protocol: 'http' })).toMatchObject({ ok: true, result: { action: 'allow' } });
    expect(await decide({ agent: 'coder', host: 'a.http.example.test', port: 8080, protocol: 'tls' })).toMatchObject({
      ok: true,
      result: { action: 'deny', rule: 'detection.protocol_not_allowed', stage: 'protocol', findings: [{ kind: 'protocol_not_allowed' }] },
    });
  });

  it('denies a quarantined enforce agent first, and reports an audit agent as not enforced', async () => {
    const quarantined = (): { agent: string; since: string; reason: string } => ({ agent: 'coder', since: '2026-01-01T00:00:00Z', reason: 'test' });
    expect(await decide({ agent: 'coder', host: 'api.example.test', port: 443 }, { quarantined })).toMatchObject({ ok: true, result: { rule: 'quarantine', stage: 'quarantine' } });
    expect(await decide({ agent: 'watcher', host: '93.184.215.10', port: 443 })).toMatchObject({ ok: true, result: { action: 'deny', enforced: false, mode: 'audit' } });
  });

  it('answers the unknown-client policy by its name, and refuses unknown agents and bad targets', async () => {
    expect(await decide({ agent: 'unknown', host: 'api.example.test', port: 443 })).toMatchObject({ ok: true, result: { action: 'deny', rule: 'unknown-agent' } });
    expect(await decide({ agent: 'nobody', host: 'api.example.test', port: 443 })).toMatchObject({ ok: false, error: 'unknown_agent' });
    expect(await decide({ agent: 'coder', host: 'api.example.test', port: 0 })).toMatchObject({ ok: false, error: 'bad_target' });
    expect(await decide({ agent: 'coder', host: 'bad host', port: 443 })).toMatchObject({ ok: false, error: 'bad_target' });
  });
});
