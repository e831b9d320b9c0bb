import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { formatConfigError } from '../../../src/config/errors.js';
import { loadRules, type LoadRulesResult } from '../../../src/config/load-rules.js';
import { makeTempTree, type TempTree } from './temp-tree.js';

const PIN = `SHA256:${'x'.repeat(42)}Y`;

let tree: TempTree | undefined;
afterEach(async () => {
  await tree?.remove();
  tree = undefined;
});

async function load(agent: string): Promise<{ result: LoadRulesResult; root: string }> {
  tree = await makeTempTree({ 'agents/a.yaml': agent });
  return { result: await loadRules(tree.root), root: tree.root };
}

async function errorsOf(agent: string): Promise<string[]> {
  const { result, root } = await load(agent);
  if (result.ok) throw new Error('expected the rules to be rejected');
  return result.errors.map((error) => formatConfigError({ ...error, file: path.relative(root, error.file) }));
}

describe('intercept: ssh rules', () => {
  it('loads the interception, defaulting the protocols to ssh and dropping the pin padding', async () => {
    const { result } = await load(`agent: a
allow:
  - host: git.internal
    ports: [22, 2222]
    intercept: ssh
    ssh:
      user: git
      key: ssh/git-internal
      host_key_sha256: "${PIN}="
      exec: [git-upload-pack, git-receive-pack]
      subsystems: [sftp]
`);
    if (!result.ok) throw new Error(result.errors.map(formatConfigError).join('\n'));
    const rule = result.ruleSet.agents[0]?.rules[0];
    expect(rule?.protocols).toEqual(['ssh']);
    expect(rule?.intercept).toEqual({
      kind: 'ssh',
      user: 'git',
      key: 'ssh/git-internal',
      hostKeySha256: PIN,
      exec: ['git-upload-pack', 'git-receive-pack'],
      subsystems: ['sftp'],
    });
  });

  it('reports each problem at its file, line and key path', async () => {
    expect(
      await errorsOf(`agent: a
allow:
  - host: a.example
    intercept: ssh
  - host: b.example
    ssh: { user: git, key: k, host_key_sha256: "${PIN}" }
  - host: c.example
    intercept: ssh
    ssh:
      user: "git user"
      key: ../../etc/shadow
      host_key_sha256: "MD5:aa:bb"
      exec: ["git-upload-pack; sh"]
      tofu: true
  - host: d.example
    intercept: ssh
    protocols: [tls]
    ssh: { user: git, key: /root/.ssh/id_ed25519, host_key_sha256: "${PIN}" }
  - host: e.example
    intercept: telnet
`),
    ).toEqual([
      'agents/a.yaml:4: allow[0].intercept: intercept: ssh needs an ssh: mapping (user, key, host_key_sha256)',
      'agents/a.yaml:6: allow[1].ssh: ssh: settings only apply with intercept: ssh',
      'agents/a.yaml:10: allow[2].ssh.user: user may not contain whitespace, ":" or "@"',
      'agents/a.yaml:11: allow[2].ssh.key: key is a file name relative to the certs directory (e.g. ssh/git-internal), without "..", "." or a leading "/"',
      'agents/a.yaml:12: allow[2].ssh.host_key_sha256: host_key_sha256 is the upstream host key fingerprint as ssh-keygen -lf prints it: "SHA256:" and 43 base64 characters',
      'agents/a.yaml:13: allow[2].ssh.exec[0]: a command is one word: letters, digits, ".", "_", "+", "/" and "-"',
      'agents/a.yaml:14: allow[2].ssh.tofu: unknown key "tofu"',
      'agents/a.yaml:17: allow[3].protocols: intercept: ssh needs ssh among the protocols (or omit protocols)',
      'agents/a.yaml:18: allow[3].ssh.key: key is a file name relative to the certs directory (e.g. ssh/git-internal), without "..", "." or a leading "/"',
      'agents/a.yaml:20: allow[4].intercept: must be one of "ssh"; got "telnet"',
    ]);
  });

  it('refuses intercept on a deny rule', async () => {
    expect(
      await errorsOf(`agent: a
deny:
  - { host: f.example, intercept: ssh, ssh: { user: git, key: k, host_key_sha256: "${PIN}" } }
`),
    ).toEqual(['agents/a.yaml:3: deny[0].intercept: intercept applies to allow and alert rules; a deny rule refuses the flow']);
  });
});
