import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ConfigError } from '../../../src/config/errors.js';
import { loadIntel } from '../../../src/config/load-intel.js';
import { intelForHost } from '../../../src/policy/intel-match.js';
import type { IntelLists } from '../../../src/policy/types.js';
import { makeTempTree, type TempTree } from '../config/temp-tree.js';

let tree: TempTree | undefined;
afterEach(async () => {
  await tree?.remove();
  tree = undefined;
});

async function load(files: Record<string, string>): Promise<{ intel: IntelLists; files: string[]; errors: ConfigError[]; root: string }> {
  tree = await makeTempTree(files);
  const errors: ConfigError[] = [];
  const loaded = await loadIntel(tree.root, errors);
  return { ...loaded, errors, root: tree.root };
}

const where = (error: ConfigError, root: string): string => `${path.relative(root, error.file)}:${error.line}: ${error.message}`;

describe('loadIntel', () => {
  it('reads nothing, and complains about nothing, when rules/intel/ is absent', async () => {
    const { intel, files, errors } = await load({ 'policy.yaml': 'deny: []\n' });
    expect(intel.domains.size).toBe(0);
    expect(intel.ports.size).toBe(0);
    expect(files).toEqual([]);
    expect(errors).toEqual([]);
  });

  it('reads the three lists with comments, blank lines, CRLF and names in any spelling', async () => {
    const { intel, files, errors, root } = await load({
      'intel/mining-pools.txt': '# pools\r\n\r\nNanoPool.ORG.   # trailing dot and case\r\nbücher-pool.example\r\n',
      'intel/tunnel-services.txt': 'ngrok-free.app\n',
      'intel/mining-ports.txt': '  3333  \n14444 # xmrig tls\n',
      'intel/README.md': 'not a list\n',
      'intel/notes.txt': 'not.a.list.example\n',
    });
    expect(errors).toEqual([]);
    expect(files.map((file) => path.relative(root, file)).sort()).toEqual(['intel/mining-pools.txt', 'intel/mining-ports.txt', 'intel/tunnel-services.txt']);
    expect([...intel.domains.keys()].sort()).toEqual(['nanopool.org', 'ngrok-free.app', 'xn--bcher-pool-9db.example']);
    expect(intel.domains.get('nanopool.org')).toMatchObject({ kind: 'mining_pool', source: { line: 3 } });
    expect(intel.domains.get('ngrok-free.app')).toMatchObject({ kind: 'tunnel_tool', source: { line: 1 } });
    expect([...intel.ports.entries()].map(([port, hit]) => [port, hit.kind, hit.source.line])).toEqual([
      [3333, 'mining_port', 1],
      [14444, 'mining_port', 2],
    ]);
  });

  it('reports every bad line with its file and line, and keeps the good ones', async () => {
    const { intel, errors, root } = await load({
      'intel/mining-pools.txt': 'good.example\n*.wild.example\n10.0.0.1\n[2001:db8::1]\nspace in.example\n',
      'intel/mining-ports.txt': '0\n65536\n3333\n80-90\n-1\n',
    });
    expect(errors.map((error) => where(error, root))).toEqual([
      'intel/mining-pools.txt:2: "*.wild.example" is not a host name: "*.wild.example" contains "*", which is not allowed in a host name',
      'intel/mining-pools.txt:3: "10.0.0.1" is not a host name (addresses are not matched by intel lists)',
      'intel/mining-pools.txt:4: "[2001:db8::1]" is not a host name (addresses are not matched by intel lists)',
      'intel/mining-pools.txt:5: "space in.example" is not a host name: "space in.example" contains " ", which is not allowed in a host name',
      'intel/mining-ports.txt:1: "0" is not a TCP port (1-65535)',
      'intel/mining-ports.txt:2: "65536" is not a TCP port (1-65535)',
      'intel/mining-ports.txt:4: "80-90" is not a TCP port (1-65535)',
      'intel/mining-ports.txt:5: "-1" is not a TCP port (1-65535)',
    ]);
    expect([...intel.domains.keys()]).toEqual(['good.example']);
    expect([...intel.ports.keys()]).toEqual([3333]);
  });

  it('reports a list it cannot read instead of skipping it', async () => {
    tree = await makeTempTree({ 'policy.yaml': '' });
    await mkdir(path.join(tree.root, 'intel', 'mining-pools.txt'), { recursive: true });
    const errors: ConfigError[] = [];
    await loadIntel(tree.root, errors);
    expect(errors).toEqual([expect.objectContaining({ line: 0, message: expect.stringMatching(/^cannot read: /) })]);
  });
});

describe('intelForHost', () => {
  const source = { file: 'rules/intel/mining-pools.txt', line: 1 };
  const intel: IntelLists = {
    domains: new Map([
      ['pool.example', { kind: 'mining_pool', source }],
      ['eu.pool.example', { kind: 'tunnel_tool', source: { ...source, line: 2 } }],
    ]),
    ports: new Map(),
  };

  it.each([
    ['pool.example', 'pool.example', 'mining_pool'],
    ['a.b.pool.example', 'pool.example', 'mining_pool'],
    ['eu.pool.example', 'eu.pool.example', 'tunnel_tool'],
    ['xmr.eu.pool.example', 'eu.pool.example', 'tunnel_tool'],
  ])('matches %s through its nearest listed name %s', (host, name, kind) => {
    expect(intelForHost(intel, host)).toMatchObject({ name, kind });
  });

  it.each(['example', 'otherpool.example', 'pool.example.net', 'pool', ''])('does not match %j', (host) => {
    expect(intelForHost(intel, host)).toBeUndefined();
  });
});
