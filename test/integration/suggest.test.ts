import { execFile } from 'node:child_process';
import { appendFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_PATH, requireBuiltCli, runCli } from '../helpers/cli.js';

/**
 * `chokepoint suggest` on a real audit-mode event log: the real CLI proxy runs in audit mode inside a
 * network namespace of the test's own (so that the test names can resolve to a public-looking address,
 * 1.2.3.4, bound to that namespace's loopback: public addresses are what default-deny refuses, while
 * loopback would be refused as SSRF), real curl makes the traffic, and the diff is applied with patch.
 */

const run = promisify(execFile);
const PUBLIC = '1.2.3.4';
const NAMES = ['a.cdn.test', 'b.cdn.test', 'c.cdn.test', 'api.other.test', 'blocked.test', 'pool.mine.test', 'allowed.test', 'x.mine.test', 'y.mine.test', 'z.mine.test'];
const AGENT_FILE = `agent: trainee
identify: { sources: ["127.0.0.1/32"] }
mode: audit
allow:
  # what the agent needs
  - { host: allowed.test, ports: [443] }
`;

let dir: string;

beforeAll(async () => {
  requireBuiltCli();
  dir = await mkdtemp(path.join(tmpdir(), 'chokepoint-suggest-'));
  await mkdir(path.join(dir, 'rules', 'agents'), { recursive: true });
  await mkdir(path.join(dir, 'rules', 'intel'));
  await writeFile(path.join(dir, 'rules', 'policy.yaml'), 'unknown_agent: deny\ndeny:\n  - { host: blocked.test, reason: "never" }\n');
  await writeFile(path.join(dir, 'rules', 'intel', 'mining-pools.txt'), 'pool.mine.test\n');
  await writeFile(path.join(dir, 'rules', 'agents', 'trainee.yaml'), AGENT_FILE);
  await writeFile(path.join(dir, 'chokepoint.yaml'), `listen: { http: "127.0.0.1:3128", socks: null }
rules: ./rules
state_dir: ./state
events: { file: ./events.jsonl }
timeouts: { connect_ms: 2000 }
hosts:
${NAMES.map((name) => `  ${name}: ${PUBLIC}`).join('\n')}
`);
  const curl = 'curl -s -o /dev/null --max-time 10 -x http://127.0.0.1:3128';
  const script = `
ip link set lo up && ip addr add ${PUBLIC}/32 dev lo || exit 7
"${process.execPath}" "${CLI_PATH}" run --config chokepoint.yaml 2>proxy.err &
proxy=$!
until grep -q listening proxy.err; do kill -0 $proxy 2>/dev/null || { cat proxy.err >&2; exit 8; }; sleep 0.05; done
for url in https://a.cdn.test/ https://b.cdn.test/ http://c.cdn.test/ https://c.cdn.test/ https://api.other.test/ https://api.other.test/ \\
           https://x.mine.test/ https://y.mine.test/ https://z.mine.test/ http://pool.mine.test/ https://blocked.test/ https://allowed.test/ http://127.0.0.1:9/; do
  ${curl} "$url"
done
kill -TERM $proxy; wait $proxy
`;
  await run('unshare', ['-rn', 'sh', '-c', script], { cwd: dir, timeout: 120_000 });
  // A line cut short by a crash, and a line that is not an event: counted, not fatal.
  await appendFile(path.join(dir, 'events.jsonl'), '{"event":{"action":"flow.den\nnot json at all\n');
}, 180_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('chokepoint suggest', () => {
  it('proposes the allow rules as a diff of the agent file, and says what it does not suggest and why', async () => {
    const log = await readFile(path.join(dir, 'events.jsonl'), 'utf8');
    expect(log).toContain('"agent_mode":"audit"');
    const result = await runCli(['suggest', '--events', 'events.jsonl', '--rules', 'rules'], dir);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^# chokepoint suggest: \d+ events from 1 file\(s\), 2 unreadable line\(s\) skipped$/m);
    const report = result.stdout.slice(result.stdout.indexOf('# agent trainee'));
    expect(report).toBe(`# agent trainee: 5 allow rule(s) suggested
--- rules/agents/trainee.yaml
+++ rules/agents/trainee.yaml
@@ -4,3 +4,8 @@
 allow:
   # what the agent needs
   - { host: allowed.test, ports: [443] }
+  - { host: "*.cdn.test", ports: [80, 443] }  # suggested: a.cdn.test, b.cdn.test, c.cdn.test; 4 flows
+  - { host: api.other.test, ports: [443] }  # suggested: 2 flows
+  - { host: x.mine.test, ports: [443] }  # suggested: 1 flow
+  - { host: y.mine.test, ports: [443] }  # suggested: 1 flow
+  - { host: z.mine.test, ports: [443] }  # suggested: 1 flow
# not suggested for trainee, because:
#   127.0.0.1:9: special-range address (loopback)
#   blocked.test:443: denied for every agent by global.deny.0
#   pool.mine.test:80: raised detection.mining_pool
`);

    // The diff applies, and the result is valid rules that allow what was refused.
    // x, y and z.mine.test are three siblings, but *.mine.test would also allow the pool: not grouped.
    const diff = report.slice(report.indexOf('---'), report.indexOf('# not suggested'));
    await new Promise<void>((resolve, reject) => {
      const child = execFile('patch', ['-p0', '--quiet'], { cwd: dir }, (error) => (error ? reject(error) : resolve()));
      child.stdin?.end(diff);
    });
    const lint = await runCli(['lint', 'rules'], dir);
    expect(lint.code).toBe(0);
    const again = await runCli(['suggest', '--events', 'events.jsonl', '--rules', 'rules'], dir);
    expect(again.stdout).toContain('# agent trainee: 0 allow rule(s) suggested');
    expect(again.stdout).not.toContain('+++');
  });

  it('--agent limits the report; an unknown agent or no refusals is not an error', async () => {
    const result = await runCli(['suggest', '--events', 'events.jsonl', '--rules', 'rules', '--agent', 'nobody'], dir);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('# nothing to suggest');
    expect((await runCli(['suggest', '--bogus'], dir)).code).toBe(2);
  });
});
