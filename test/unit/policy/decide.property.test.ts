/**
 * The proof that the fast matchers are right: for random rule sets and targets, the compiled decision
 * equals the one of a naive reference that scans every rule, written here from the rules in
 * src/policy/decide.ts without any of the hash tables. Address semantics (judging, containment,
 * special ranges) come from src/net, which has its own tests.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  addressForJudging,
  parseCidr,
  parseIpLiteral,
  type IpAddress,
  type ParsedCidr,
} from '../../../src/net/address.js';
import { specialRangeOf } from '../../../src/net/special-ranges.js';
import { compilePolicy } from '../../../src/policy/compile.js';
import type { NameCheck } from '../../../src/policy/decide.js';
import {
  DEFAULT_DETECTION_ACTIONS,
  type DecisionTarget,
  type PortRange,
  type Rule,
  type RuleList,
  type RuleSet,
} from '../../../src/policy/types.js';

// ---------------------------------------------------------------------------------------------------
// Reference implementation: straightforward scans.

interface Verdict {
  action: string;
  rule: string;
  refusedAddress?: { address: string; range: string };
}

/** Raw containment: same family and the first `prefix` bits agree. */
function blockHolds(block: { address: IpAddress; prefix: number }, address: IpAddress): boolean {
  return block.address.kind() === address.kind() && address.match(block.address, block.prefix);
}

const covers = (rule: Rule, port: number): boolean => rule.ports.some((r) => port >= r.from && port <= r.to);

function hostSpecificity(pattern: string, host: string): number | undefined {
  if (pattern === '*') return 0;
  if (pattern.startsWith('*.')) return host.endsWith(pattern.slice(1)) ? pattern.length : undefined;
  return pattern === host ? Number.MAX_SAFE_INTEGER : undefined;
}

/** Highest specificity wins; the first written wins ties. */
function bestHostRule(rules: Rule[], host: string | undefined, port: number): Rule | undefined {
  if (host === undefined || parseIpLiteral(host) !== undefined) return undefined;
  let best: { rule: Rule; score: number } | undefined;
  for (const rule of rules) {
    if (rule.host === undefined || !covers(rule, port)) continue;
    const score = hostSpecificity(rule.host, host);
    if (score !== undefined && (best === undefined || score > best.score)) best = { rule, score };
  }
  return best?.rule;
}

const cidrOf = (rule: Rule): ParsedCidr | undefined => {
  const parsed = rule.cidr === undefined ? undefined : parseCidr(rule.cidr);
  return parsed === undefined || 'error' in parsed ? undefined : parsed;
};

function formsOf(address: IpAddress): IpAddress[] {
  const judged = addressForJudging(address);
  const same = judged.kind() === address.kind() && judged.toNormalizedString() === address.toNormalizedString();
  return same ? [address] : [judged, address];
}

/** Judged form first, then raw; within a form the longest prefix, then the first written. */
function bestCidrRule(rules: Rule[], address: IpAddress, port: number): Rule | undefined {
  for (const form of formsOf(address)) {
    let best: { rule: Rule; prefix: number } | undefined;
    for (const rule of rules) {
      const block = cidrOf(rule);
      if (block === undefined || !covers(rule, port) || !blockHolds(block, form)) continue;
      if (best === undefined || block.prefix > best.prefix) best = { rule, prefix: block.prefix };
    }
    if (best !== undefined) return best.rule;
  }
  return undefined;
}

function anyAddressRule(rules: Rule[], addresses: IpAddress[], port: number): Rule | undefined {
  for (const address of addresses) {
    const rule = bestCidrRule(rules, address, port);
    if (rule !== undefined) return rule;
  }
  return undefined;
}

function allAddressesRule(rules: Rule[], addresses: IpAddress[], port: number): Rule | undefined {
  const found = addresses.map((address) => bestCidrRule(rules, address, port));
  return found.length > 0 && found.every((rule) => rule !== undefined) ? found[0] : undefined;
}

interface ReferenceAgent {
  global: Rule[];
  rules: Rule[] | 'deny-all';
}

function ofList(agent: ReferenceAgent, list: RuleList): Rule[] {
  return agent.rules === 'deny-all' ? [] : agent.rules.filter((rule) => rule.list === list);
}

function referenceName(agent: ReferenceAgent, host: string, port: number): Verdict | 'resolve' {
  const global = bestHostRule(agent.global, host, port);
  if (global !== undefined) return { action: 'deny', rule: global.id };
  if (agent.rules === 'deny-all') return { action: 'deny', rule: 'unknown-agent' };
  const deny = bestHostRule(ofList(agent, 'deny'), host, port);
  if (deny !== undefined) return { action: 'deny', rule: deny.id };
  const reachable = [...ofList(agent, 'alert'), ...ofList(agent, 'allow')];
  const may =
    bestHostRule(reachable, host, port) !== undefined ||
    reachable.some((rule) => rule.cidr !== undefined && covers(rule, port));
  return may ? 'resolve' : { action: 'deny', rule: 'default-deny' };
}

function referenceDecide(agent: ReferenceAgent, target: DecisionTarget): Verdict {
  const { host, port } = target;
  const addresses = target.addresses.map((text) => parseIpLiteral(text));
  const invalid = addresses.indexOf(undefined);
  if (invalid !== -1) return { action: 'deny', rule: 'invalid-address' };
  const ips = addresses.filter((a): a is IpAddress => a !== undefined);

  const global = bestHostRule(agent.global, host, port) ?? anyAddressRule(agent.global, ips, port);
  if (global !== undefined) return { action: 'deny', rule: global.id };
  if (agent.rules === 'deny-all') return { action: 'deny', rule: 'unknown-agent' };
  const deny = bestHostRule(ofList(agent, 'deny'), host, port) ?? anyAddressRule(ofList(agent, 'deny'), ips, port);
  if (deny !== undefined) return { action: 'deny', rule: deny.id };
  if (ips.length === 0) return { action: 'deny', rule: 'no-address' };

  const reachable = [...ofList(agent, 'alert'), ...ofList(agent, 'allow')];
  for (const [i, ip] of ips.entries()) {
    const range = specialRangeOf(ip);
    if (range === undefined) continue;
    const judged = addressForJudging(ip);
    const rangeBlock = { address: range.network, prefix: range.prefix };
    const unlocked = reachable.some((rule) => {
      const block = cidrOf(rule);
      if (block === undefined || !covers(rule, port) || !blockHolds(block, judged)) return false;
      return block.prefix >= range.prefix && blockHolds(rangeBlock, block.address);
    });
    if (!unlocked) {
      const refusedAddress = { address: target.addresses[i] ?? '', range: range.name };
      return { action: 'deny', rule: `ssrf.${range.name}`, refusedAddress };
    }
  }
  for (const list of ['alert', 'allow'] as const) {
    const rules = ofList(agent, list);
    const rule = bestHostRule(rules, host, port) ?? allAddressesRule(rules, ips, port);
    if (rule !== undefined) return { action: list, rule: rule.id };
  }
  return { action: 'deny', rule: 'default-deny' };
}

// ---------------------------------------------------------------------------------------------------
// Generators: small pools so that random rules and targets actually meet.

const LABELS = ['a', 'gh', 'com'];
/** Public addresses, some spelled inside mapped, NAT64, 6to4 and Teredo forms. */
const PUBLIC = [
  '140.82.112.3', '140.82.113.4', '8.8.8.8', '8.8.4.4', '1.1.1.1', '2606:4700::1111', '2606:4700:10::1', '2a00:1450::1',
  '::ffff:8.8.8.8', '64:ff9b::808:808', '2002:808:808::1', '2001:0:4136:e378:8000:63bf:f7f7:f7f7',
];
/** Addresses in special ranges, in the same spellings. */
const SPECIAL = [
  '10.0.0.1', '10.1.2.3', '127.0.0.1', '169.254.169.254', '169.254.1.1', '192.168.1.1', '100.64.0.1', '0.0.0.0',
  'fe80::1', '::1', 'fd00::5', '2001:db8::1', '::ffff:10.0.0.1', '64:ff9b::a00:1', '2002:a00:1::1',
];
const BASES = [...PUBLIC, ...SPECIAL];
const PORT_SETS: PortRange[][] = [
  [{ from: 22, to: 22 }],
  [{ from: 80, to: 80 }],
  [{ from: 443, to: 443 }],
  [{ from: 80, to: 80 }, { from: 443, to: 443 }],
  [{ from: 1, to: 65535 }],
  [{ from: 8000, to: 8999 }],
];
// 443 thrice: most rules cover it, so more flows get past the default deny.
const PORTS = [22, 80, 443, 443, 443, 8080, 8443];

const hostName = fc.array(fc.constantFrom(...LABELS), { minLength: 1, maxLength: 3 }).map((labels) => labels.join('.'));
const hostPattern = fc.oneof(hostName, hostName.map((h) => `*.${h}`), fc.constant('*'));
const IPV4_BASES = BASES.filter((a) => !a.includes(':'));
const cidr = fc.oneof(
  fc
    .tuple(fc.constantFrom(...BASES), fc.integer({ min: 0, max: 128 }))
    .map(([a, p]) => `${a}/${a.includes(':') ? p : p % 33}`),
  fc.tuple(fc.constantFrom(...IPV4_BASES), fc.integer({ min: 0, max: 32 })).map(([a, p]) => `::ffff:${a}/${96 + p}`),
);
// Mostly the pools (so rules meet targets), sometimes anything at all.
const address = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...PUBLIC) },
  { weight: 3, arbitrary: fc.constantFrom(...SPECIAL) },
  { weight: 1, arbitrary: fc.ipV4() },
  { weight: 1, arbitrary: fc.ipV6() },
);

const ruleShape = fc.record({
  list: fc.constantFrom<RuleList>('allow', 'allow', 'allow', 'alert', 'deny'),
  where: fc.oneof(hostPattern.map((host) => ({ host })), cidr.map((c) => ({ cidr: c }))),
  ports: fc.constantFrom(...PORT_SETS),
});

type RuleShape = { list: RuleList; where: { host: string } | { cidr: string }; ports: PortRange[] };

function withIds(shapes: RuleShape[], prefix: string): Rule[] {
  return shapes.map((s, i) => ({ id: `${prefix}${i}`, list: s.list, ...s.where, ports: s.ports }));
}

const scenario = fc.record({
  rules: fc.array(ruleShape, { minLength: 2, maxLength: 25 }).map((shapes) => withIds(shapes, 'r')),
  global: fc
    .array(ruleShape, { maxLength: 2 })
    .map((shapes) => withIds(shapes, 'g').map((r) => ({ ...r, list: 'deny' as const }))),
  unknownIsDenyAll: fc.boolean(),
  target: fc.record({
    host: fc.option(
      fc.oneof({ weight: 4, arbitrary: hostName }, { weight: 1, arbitrary: fc.constantFrom(...IPV4_BASES) }),
      { nil: undefined },
    ),
    addresses: fc.oneof(
      { weight: 1, arbitrary: fc.constant<string[]>([]) },
      { weight: 9, arbitrary: fc.array(address, { minLength: 1, maxLength: 2 }) },
    ),
    port: fc.constantFrom(...PORTS),
  }),
});

function summary(check: NameCheck): Verdict | 'resolve' {
  return check.kind === 'resolve' ? 'resolve' : { action: check.decision.action, rule: check.decision.rule };
}

function verdictOf(decision: Verdict): Verdict {
  const { action, rule, refusedAddress } = decision;
  return refusedAddress === undefined ? { action, rule } : { action, rule, refusedAddress };
}

describe('compiled decisions equal the reference scan', () => {
  it('for random rule sets, agents and targets, in both phases', () => {
    fc.assert(
      fc.property(scenario, ({ rules, global, unknownIsDenyAll, target }) => {
        const set: RuleSet = {
          globalDeny: global,
          unknownAgent: unknownIsDenyAll ? 'deny' : 'coder',
          requireCredentials: false,
          agents: [{ name: 'coder', mode: 'enforce', sources: [], credentials: [], rules }],
          detectionActions: { ...DEFAULT_DETECTION_ACTIONS },
        };
        const result = compilePolicy(set);
        if (!result.ok) throw new Error(result.errors.join('; '));
        const cases = [
          { compiled: result.policy.agent('coder'), reference: { global, rules } },
          {
            compiled: result.policy.unknownAgent,
            reference: { global, rules: unknownIsDenyAll ? ('deny-all' as const) : rules },
          },
        ];
        for (const { compiled, reference } of cases) {
          if (compiled === undefined) throw new Error('agent missing');
          expect(verdictOf(compiled.decide(target))).toEqual(referenceDecide(reference, target));
          if (target.host !== undefined) {
            const expected = referenceName(reference, target.host, target.port);
            expect(summary(compiled.checkName(target.host, target.port))).toEqual(expected);
          }
        }
      }),
      { numRuns: 1000 },
    );
  });
});
