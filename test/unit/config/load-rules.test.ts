import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { formatConfigError, type ConfigError } from '../../../src/config/errors.js';
import { loadRules, type LoadRulesResult } from '../../../src/config/load-rules.js';
import { DEFAULT_DETECTION_ACTIONS, type RuleSet } from '../../../src/policy/types.js';
import { makeTempTree, type TempTree } from './temp-tree.js';

const TOKEN = 'AB'.repeat(32);
const OTHER_TOKEN = 'cd'.repeat(32);

const CODER_7 = `# rules/agents/coder-7.yaml
agent: coder-7
identify:
  sources: ["10.8.0.7/32"]
  credentials: [{ user: coder-7, token_sha256: "${TOKEN}" }]
mode: enforce
allow:
  - { host: "*.github.com", ports: [443] }
  - { host: github.com, ports: [22] }
  - { cidr: 10.20.0.0/16, ports: ["5432", "8000-8100"] }
alert:
  - { host: huggingface.co }
deny:
  - { host: gist.github.com, reason: "gists are an exfiltration path; publish to the artifact store" }
`;

const POLICY = `unknown_agent: deny
require_credentials: true
deny:
  - { host: "*.onion", reason: "no onion services" }
  - { id: no-metadata, cidr: 169.254.169.254/32 }
`;

let tree: TempTree | undefined;
afterEach(async () => {
  await tree?.remove();
  tree = undefined;
});

async function load(files: Record<string, string>): Promise<{ result: LoadRulesResult; root: string }> {
  tree = await makeTempTree(files);
  return { result: await loadRules(tree.root), root: tree.root };
}

async function loadOk(files: Record<string, string>): Promise<RuleSet> {
  const { result } = await load(files);
  if (!result.ok) throw new Error(`expected the rules to load:\n${result.errors.map(formatConfigError).join('\n')}`);
  return result.ruleSet;
}

/** Errors as `relative-file:line: path: message`, the way an operator reads them. */
async function loadErrors(files: Record<string, string>): Promise<string[]> {
  const { result, root } = await load(files);
  if (result.ok) throw new Error('expected the rules to be rejected');
  return result.errors.map((error: ConfigError) =>
    formatConfigError({ ...error, file: path.relative(root, error.file) || '.' }),
  );
}

describe('loadRules: valid rules', () => {
  it('builds the agent with ids, default ports, canonical values and source lines', async () => {
    const ruleSet = await loadOk({ 'policy.yaml': POLICY, 'agents/coder-7.yaml': CODER_7 });
    const [agent] = ruleSet.agents;
    const file = path.join(tree?.root ?? '', 'agents/coder-7.yaml');
    expect(ruleSet.agents).toHaveLength(1);
    expect(agent).toMatchObject({
      name: 'coder-7',
      mode: 'enforce',
      sources: ['10.8.0.7/32'],
      credentials: [{ user: 'coder-7', tokenSha256: 'ab'.repeat(32) }],
      source: { file, line: 2 },
    });
    expect(agent?.rules).toEqual([
      { id: 'coder-7.allow.0', list: 'allow', host: '*.github.com', ports: [{ from: 443, to: 443 }], source: { file, line: 8 } },
      { id: 'coder-7.allow.1', list: 'allow', host: 'github.com', ports: [{ from: 22, to: 22 }], source: { file, line: 9 } },
      {
        id: 'coder-7.allow.2',
        list: 'allow',
        cidr: '10.20.0.0/16',
        ports: [
          { from: 5432, to: 5432 },
          { from: 8000, to: 8100 },
        ],
        source: { file, line: 10 },
      },
      {
        id: 'coder-7.alert.0',
        list: 'alert',
        host: 'huggingface.co',
        ports: [
          { from: 80, to: 80 },
          { from: 443, to: 443 },
        ],
        source: { file, line: 12 },
      },
      {
        id: 'coder-7.deny.0',
        list: 'deny',
        host: 'gist.github.com',
        ports: [{ from: 1, to: 65535 }],
        reason: 'gists are an exfiltration path; publish to the artifact store',
        source: { file, line: 14 },
      },
    ]);
  });

  it('reads the global policy: unknown agent, credentials, global denies with their ids', async () => {
    const ruleSet = await loadOk({ 'policy.yaml': POLICY });
    expect(ruleSet.unknownAgent).toBe('deny');
    expect(ruleSet.requireCredentials).toBe(true);
    expect(ruleSet.globalDeny.map((rule) => [rule.id, rule.host ?? rule.cidr, rule.ports])).toEqual([
      ['global.deny.0', '*.onion', [{ from: 1, to: 65535 }]],
      ['no-metadata', '169.254.169.254/32', [{ from: 1, to: 65535 }]],
    ]);
  });

  it('uses safe defaults without policy.yaml and without agents', async () => {
    expect(await loadOk({ 'README.md': 'nothing here' })).toEqual({
      globalDeny: [],
      unknownAgent: 'deny',
      requireCredentials: false,
      agents: [],
      detectionActions: DEFAULT_DETECTION_ACTIONS,
      intel: { domains: new Map(), ports: new Map() },
    });
  });

  it('loads intel lists with their sources, and reports a bad line with file:line', async () => {
    const ruleSet = await loadOk({ 'intel/mining-pools.txt': '# pools\nNanoPool.ORG.\n', 'intel/mining-ports.txt': '3333 # xmrig\n' });
    expect(ruleSet.intel?.domains.get('nanopool.org')).toMatchObject({ kind: 'mining_pool', source: { line: 2 } });
    expect(ruleSet.intel?.ports.get(3333)).toMatchObject({ kind: 'mining_port', source: { line: 1 } });
    const errors = await loadErrors({ 'intel/mining-ports.txt': '3333\n70000\n', 'intel/tunnel-services.txt': 'ok.example\n10.0.0.1\n' });
    expect(errors).toEqual([
      'intel/mining-ports.txt:2: "70000" is not a TCP port (1-65535)',
      'intel/tunnel-services.txt:2: "10.0.0.1" is not a host name (addresses are not matched by intel lists)',
    ]);
  });

  it('takes detection actions from policy.yaml, keeping defaults for the kinds it leaves out', async () => {
    const ruleSet = await loadOk({ 'policy.yaml': 'detections: { stratum: alert, nested_proxy: quarantine }\n' });
    expect(ruleSet.detectionActions).toEqual({ ...DEFAULT_DETECTION_ACTIONS, stratum: 'alert', nested_proxy: 'quarantine' });
  });

  it('rejects an unknown detection kind or action with file:line', async () => {
    const errors = (await loadErrors({ 'policy.yaml': 'unknown_agent: deny\ndetections:\n  stratumm: deny\n  stratum: block\n' })).join('\n');
    expect(errors).toMatch(/policy\.yaml:3: detections/);
    expect(errors).toMatch(/policy\.yaml:4: detections\.stratum/);
  });

  it('takes an action per confidence for a kind, alongside plain actions', async () => {
    const ruleSet = await loadOk({ 'policy.yaml': 'detections:\n  reverse_tunnel: { high: quarantine, medium: deny, low: alert }\n  stratum: alert\n' });
    expect(ruleSet.detectionActions?.reverse_tunnel).toEqual({ high: 'quarantine', medium: 'deny', low: 'alert' });
    expect(ruleSet.detectionActions?.stratum).toBe('alert');
  });

  it('rejects an unknown confidence or action in a per-confidence map with file:line', async () => {
    const errors = (await loadErrors({ 'policy.yaml': 'unknown_agent: deny\ndetections:\n  reverse_tunnel:\n    high: block\n  tunnel_tool: { certain: deny }\n' })).join('\n');
    expect(errors).toMatch(/policy\.yaml:3: detections\.reverse_tunnel: an action \(alert, deny, quarantine\) or a map/);
    expect(errors).toMatch(/policy\.yaml:5: detections\.tunnel_tool/);
    expect(errors).toMatch(/map of confidence/);
  });

  it('normalises host patterns and CIDRs, and accepts protocols and "*" ports', async () => {
    const ruleSet = await loadOk({
      'agents/a.yaml': `agent: a
allow:
  - { host: "GitHub.COM.", ports: "*" }
  - { host: "*.Bücher.example" }
  - { host: "*", ports: [22], protocols: [ssh] }
  - { cidr: "10.20.3.4/16" }
  - { cidr: "2001:DB8::1/32", protocols: [tls, http] }
`,
    });
    expect(ruleSet.agents[0]?.rules.map((rule) => rule.host ?? rule.cidr)).toEqual([
      'github.com',
      '*.xn--bcher-kva.example',
      '*',
      '10.20.0.0/16',
      '2001:db8::/32',
    ]);
    expect(ruleSet.agents[0]?.rules[0]?.ports).toEqual([{ from: 1, to: 65535 }]);
    expect(ruleSet.agents[0]?.rules[2]?.protocols).toEqual(['ssh']);
  });

  it('lets unknown_agent name an existing agent, and allows nested source ranges', async () => {
    const ruleSet = await loadOk({
      'policy.yaml': 'unknown_agent: sandbox\n',
      'agents/sandbox.yaml': 'agent: sandbox\nidentify: { sources: ["10.0.0.0/8"] }\n',
      'agents/coder.yaml': 'agent: coder\nidentify: { sources: ["10.1.0.0/16"] }\nmode: audit\n',
    });
    expect(ruleSet.unknownAgent).toBe('sandbox');
    expect(ruleSet.agents.map((agent) => [agent.name, agent.mode])).toEqual([
      ['coder', 'audit'],
      ['sandbox', 'enforce'],
    ]);
  });

  it('treats lists left empty as empty, and ignores dot-files, other files and unknown folders', async () => {
    const ruleSet = await loadOk({
      'agents/a.yaml': 'agent: a\nidentify:\nallow:\n# - { host: example.com }\n',
      'agents/.a.yaml.swp': 'not yaml: [',
      'agents/notes.txt': 'not yaml: [',
      'intel/miners.txt': 'pool.example',
    });
    expect(ruleSet.agents[0]).toMatchObject({ name: 'a', sources: [], credentials: [], rules: [] });
  });

  it('lists the files it read', async () => {
    const { result, root } = await load({ 'policy.yaml': POLICY, 'agents/coder-7.yaml': CODER_7 });
    expect(result.ok && result.files).toEqual([path.join(root, 'policy.yaml'), path.join(root, 'agents/coder-7.yaml')]);
  });
});

describe('loadRules: errors name file, line and key path', () => {
  it('a bad port range', async () => {
    const broken = CODER_7.replace('"8000-8100"', '"8000-70000"');
    expect(await loadErrors({ 'agents/coder-7.yaml': broken })).toEqual([
      'agents/coder-7.yaml:10: allow[2].ports[1]: "8000-70000" is not a port range (1-65535)',
    ]);
  });

  it('unknown keys, at the line of the key', async () => {
    expect(
      await loadErrors({
        'agents/a.yaml': 'agent: a\nallow:\n  - host: example.com\n    prots: [443]\nalow: []\n',
      }),
    ).toEqual(['agents/a.yaml:4: allow[0].prots: unknown key "prots"', 'agents/a.yaml:5: alow: unknown key "alow"']);
  });

  it('a rule with both host and cidr, or neither', async () => {
    expect(
      await loadErrors({
        'agents/a.yaml': 'agent: a\ndeny:\n  - { host: a.example, cidr: 10.0.0.0/8 }\n  - { reason: "why" }\n',
      }),
    ).toEqual([
      'agents/a.yaml:3: deny[0].cidr: a rule has either host or cidr, not both',
      'agents/a.yaml:4: deny[1]: a rule needs a host or a cidr',
    ]);
  });

  it('bad host patterns and CIDRs', async () => {
    const errors = await loadErrors({
      'agents/a.yaml': `agent: a
allow:
  - host: "10.0.0.1"
  - host: "foo.*.example"
  - host: "bad host"
  - cidr: "10.0.0.0/33"
`,
    });
    expect(errors).toHaveLength(4);
    expect(errors[0]).toMatch(/^agents\/a\.yaml:3: allow\[0\]\.host: .*IP address/);
    expect(errors[1]).toMatch(/^agents\/a\.yaml:4: allow\[1\]\.host: /);
    expect(errors[2]).toMatch(/^agents\/a\.yaml:5: allow\[2\]\.host: /);
    expect(errors[3]).toMatch(/^agents\/a\.yaml:6: allow\[3\]\.cidr: not a CIDR: /);
  });

  it('a file whose name does not match its agent', async () => {
    expect(await loadErrors({ 'agents/coder-7.yaml': '# x\nagent: coder-8\n' })).toEqual([
      'agents/coder-7.yaml:2: agent: "coder-8" does not match the file name coder-7.yaml; name the file coder-8.yaml or the agent "coder-7"',
    ]);
  });

  it('bad agent names, the reserved name "deny", and a missing agent key', async () => {
    const errors = await loadErrors({
      'agents/Coder.yaml': 'agent: Coder\n',
      'agents/deny.yaml': 'agent: deny\n',
      'agents/empty.yaml': '',
    });
    expect(errors[0]).toMatch(/^agents\/Coder\.yaml:1: agent: agent names are lower-case/);
    expect(errors[1]).toBe('agents/deny.yaml:1: agent: "deny" and "unknown" are reserved for the built-in deny-all policy');
    expect(errors[2]).toBe('agents/empty.yaml:1: agent: is required');
  });

  it('two agents claiming the same source range, or the same credential user', async () => {
    const errors = await loadErrors({
      'agents/a.yaml': `agent: a\nidentify:\n  sources: ["10.0.0.7/32"]\n  credentials: [{ user: shared, token_sha256: "${TOKEN}" }]\n`,
      'agents/b.yaml': `agent: b\nidentify:\n  sources: ["10.0.0.7"]\n  credentials:\n    - { user: shared, token_sha256: "${OTHER_TOKEN}" }\n`,
    });
    const aFile = path.join(tree?.root ?? '', 'agents/a.yaml');
    expect(errors).toEqual([
      `agents/b.yaml:3: identify.sources[0]: 10.0.0.7/32 is also claimed by agent "a" (${aFile}:3); a source range belongs to one agent`,
      `agents/b.yaml:5: identify.credentials[0].user: credential user "shared" is also defined by agent "a" (${aFile}:4)`,
    ]);
  });

  it('a token digest that is not 64 hex characters, and a bad mode', async () => {
    expect(
      await loadErrors({
        'agents/a.yaml': 'agent: a\nmode: block\nidentify:\n  credentials:\n    - { user: a, token_sha256: "abc" }\n',
      }),
    ).toEqual([
      'agents/a.yaml:2: mode: must be one of "enforce", "audit"; got "block"',
      'agents/a.yaml:5: identify.credentials[0].token_sha256: token_sha256 must be 64 hexadecimal characters (the SHA-256 of the token)',
    ]);
  });

  it('duplicate rule ids, including an explicit id equal to a generated one', async () => {
    expect(
      await loadErrors({
        'policy.yaml': 'deny:\n  - { id: x, host: a.example }\n',
        'agents/a.yaml': 'agent: a\nallow:\n  - { host: b.example }\n  - { id: a.allow.0, host: c.example }\ndeny:\n  - { id: x, host: d.example }\n',
      }),
    ).toEqual([
      expect.stringMatching(/^agents\/a\.yaml:4: allow\[1\]\.id: rule id "a\.allow\.0" is also used at .*a\.yaml:3/),
      expect.stringMatching(/^agents\/a\.yaml:6: deny\[0\]\.id: rule id "x" is also used at .*policy\.yaml:2/),
    ]);
  });

  it('unknown_agent naming an agent that does not exist', async () => {
    expect(await loadErrors({ 'policy.yaml': '# default\nunknown_agent: sandbox\n' })).toEqual([
      'policy.yaml:2: unknown_agent: there is no agent "sandbox" (expected agents/sandbox.yaml); write "deny" to refuse unknown clients',
    ]);
  });

  it('wrong types, bad protocols, bad reasons', async () => {
    expect(
      await loadErrors({
        'policy.yaml': 'require_credentials: "yes"\n',
        'agents/a.yaml': 'agent: a\nallow: { host: x.example }\ndeny:\n  - { host: y.example, protocols: [ftp], reason: "line one\\nline two" }\n',
      }),
    ).toEqual([
      'agents/a.yaml:2: allow: expected a list, got a mapping',
      'agents/a.yaml:4: deny[0].protocols[0]: must be one of "tls", "http", "http2", "websocket", "ssh", "stratum", "socks", "proxy-protocol", "reverse-shell", "unknown", "opaque"; got "ftp"',
      'agents/a.yaml:4: deny[0].reason: reason must be a single line without control characters',
      'policy.yaml:1: require_credentials: expected true or false, got "yes"',
    ]);
  });

  it('a self-referencing alias is a plain validation error, not a crash', async () => {
    expect(await loadErrors({ 'agents/a.yaml': 'agent: a\nallow: &loop [*loop]\n' })).toEqual([
      'agents/a.yaml:2: allow[0]: expected a mapping, got a list',
    ]);
  });

  it('YAML syntax errors, with their line', async () => {
    const errors = await loadErrors({ 'agents/a.yaml': 'agent: a\nallow:\n  - { host: x.example\n' });
    expect(errors.length).toBeGreaterThan(0);
    expect(errors[0]).toMatch(/^agents\/a\.yaml:[34]: /);
  });

  it('collects every error of every file in one pass', async () => {
    const errors = await loadErrors({
      'policy.yaml': 'unknown_agent: ghost\nrequire_credential: true\n',
      'agents/a.yaml': 'agent: a\nallow:\n  - { host: x.example, ports: [0] }\n  - { host: y.example, ports: ["1-2-3"] }\n',
      'agents/b.yaml': 'agent: c\n',
      'agents/c.yml': 'agent: c\n',
      'agents/d.yaml': 'agent: d\nallow: [\n',
      'agents/sub/e.yaml': 'agent: e\n',
    });
    expect(errors).toEqual([
      'agents/a.yaml:3: allow[0].ports[0]: 0 is not a port (1-65535)',
      'agents/a.yaml:4: allow[1].ports[0]: "1-2-3" is not a port, a range "N-M" or "*"',
      'agents/b.yaml:1: agent: "c" does not match the file name b.yaml; name the file c.yaml or the agent "b"',
      'agents/c.yml: agent files end in .yaml; rename it to c.yaml',
      expect.stringMatching(/^agents\/d\.yaml:\d: /),
      'agents/sub: is a directory; agent files live directly in agents/',
      'policy.yaml:2: require_credential: unknown key "require_credential"',
    ]);
  });

  it('a rules directory that does not exist', async () => {
    tree = await makeTempTree({});
    const missing = path.join(tree.root, 'nope');
    const result = await loadRules(missing);
    expect(result.ok).toBe(false);
    expect(!result.ok && result.errors).toEqual([
      { file: missing, line: 0, path: '', message: expect.stringMatching(/^cannot read the rules directory: /) },
    ]);
  });
});

describe('the shipped rules/ directory', () => {
  it('loads cleanly, with the local agent and global denies', async () => {
    const rulesDir = fileURLToPath(new URL('../../../rules', import.meta.url));
    const result = await loadRules(rulesDir);
    if (!result.ok) throw new Error(result.errors.map(formatConfigError).join('\n'));
    expect(result.ruleSet.unknownAgent).toBe('deny');
    expect(result.ruleSet.globalDeny.some((rule) => rule.host === '*.onion' && rule.reason !== undefined)).toBe(true);
    const local = result.ruleSet.agents.find((agent) => agent.name === 'local');
    expect(local?.sources).toEqual(['127.0.0.1/32', '::1/128']);
    expect(local?.rules.filter((rule) => rule.list === 'allow').map((rule) => rule.host)).toEqual([
      'github.com',
      '*.github.com',
      '*.githubusercontent.com',
      'registry.npmjs.org',
      'pypi.org',
      'files.pythonhosted.org',
    ]);
    expect(local?.rules.find((rule) => rule.list === 'deny')).toMatchObject({ host: 'gist.github.com' });
  });
});
