/**
 * The file sink on a disk that fills up: the real program (`chokepoint run`) writes its log on a
 * 256 KiB tmpfs mounted in a mount namespace of its own (unshare -m); the test fills that filesystem
 * through /proc/<pid>/root while curl drives flows, so a batch is cut mid-line by ENOSPC. The sink
 * reports it (sink.error on a stdout sink), keeps the events queued, and once space is freed writes
 * them — and `chokepoint verify-log` finds the chain intact: no torn line, nothing twice, nothing lost.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_PATH, requireBuiltCli, runCli } from '../helpers/cli.js';
import { curl } from '../helpers/curl.js';
import { DENY_UNKNOWN_POLICY, tempRules, type TempRules } from '../helpers/rules.js';
import { httpUpstream, type Upstream } from '../helpers/upstreams.js';

let rules: TempRules;
let upstream: Upstream;
let work: string;
let child: ChildProcess | undefined;

beforeAll(async () => {
  requireBuiltCli();
  upstream = await httpUpstream();
  rules = await tempRules(DENY_UNKNOWN_POLICY, {
    local: `agent: local\nidentify: { sources: ["127.0.0.1/32"] }\nallow:\n  - { cidr: 127.0.0.1/32, ports: [${upstream.port}] }\n`,
  });
  work = await mkdtemp(path.join(tmpdir(), 'chokepoint-disk-full-'));
});

afterAll(async () => {
  if (child && child.exitCode === null && child.signalCode === null && child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
  await upstream?.close();
  await rules?.remove();
  if (work) await rm(work, { recursive: true, force: true });
});

/** Resolves with the first match of `pattern` in what `read` returns, checked whenever `stream` has data. */
function waitForOutput(stream: NodeJS.ReadableStream, read: () => string, pattern: RegExp, ms = 20_000): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    const check = (): void => {
      const match = pattern.exec(read());
      if (!match) return;
      clearTimeout(timer);
      stream.off('data', check);
      resolve(match);
    };
    const timer = setTimeout(() => {
      stream.off('data', check);
      reject(new Error(`no ${pattern} within ${ms} ms:\n${read()}`));
    }, ms);
    stream.on('data', check);
    check();
  });
}

describe('file sink on a full disk', () => {
  it('cuts a write torn by ENOSPC, keeps the events and writes them once there is room: verify-log passes', async () => {
    const mount = path.join(work, 'mnt');
    const out = path.join(work, 'out');
    await mkdir(mount);
    await mkdir(out);
    const configFile = path.join(work, 'chokepoint.yaml');
    await writeFile(
      configFile,
      [
        'listen: { http: "127.0.0.1:0", socks: null }',
        `rules: ${JSON.stringify(rules.dir)}`,
        `state_dir: ${JSON.stringify(path.join(work, 'state'))}`,
        'events: { heartbeat_s: 0 }',
        'sinks:',
        `  - { type: file, path: ${JSON.stringify(path.join(mount, 'events.jsonl'))} }`,
        '  - { type: stdout, events: ["sink.*"] }',
        '',
      ].join('\n'),
    );
    // sh waits for the proxy (its TERM trap runs afterwards), then copies the log out of the namespace.
    const script = 'trap : TERM; mount -t tmpfs -o size=256k tmpfs "$1" || exit 97; "$2" "$3" run --config "$4"; code=$?; cp "$1"/events.jsonl "$5"/; exit $code';
    child = spawn('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script, 'sh', mount, process.execPath, CLI_PATH, configFile, out], {
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const running = child;
    let stdout = '';
    let stderr = '';
    running.stdout?.setEncoding('utf8').on('data', (text: string) => (stdout += text));
    running.stderr?.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    const exited = new Promise<number | null>((resolve) => running.once('close', (code) => resolve(code)));
    if (!running.stderr || !running.stdout || running.pid === undefined) throw new Error('no child');

    const listening = await waitForOutput(running.stderr, () => stderr, /listening \(http 127\.0\.0\.1:(\d+)/);
    const proxy = `http://127.0.0.1:${listening[1]}`;
    const flows = async (from: number, count: number): Promise<void> => {
      for (let n = from; n < from + count; n += 1) {
        expect((await curl(['-x', proxy, `http://127.0.0.1:${upstream.port}/ok/${n}`])).status).toBe(200);
        expect((await curl(['-x', proxy, `http://denied-${n}.example:80/`])).status).toBe(403);
      }
    };
    await flows(0, 2);

    // Fill the proxy's filesystem (seen through its root): what is left is the slack of the log's last page.
    const filler = path.join(`/proc/${running.pid}/root`, mount, 'filler');
    expect(() => writeFileSync(filler, Buffer.alloc(1024 * 1024, 0x61))).toThrow(/ENOSPC/);
    await flows(2, 12);
    await waitForOutput(running.stdout, () => stdout, /"sink\.error".*ENOSPC|ENOSPC.*"sink\.error"/);

    await rm(filler);
    await flows(14, 3);
    process.kill(-running.pid, 'SIGTERM');
    expect(await exited, stderr).toBe(0);

    const result = await runCli(['verify-log', path.join(out, 'events.jsonl')]);
    expect(result.stdout).toMatch(/1 chain\(s\): the chain is intact/);
    expect(result.code).toBe(0);
    expect(stdout).not.toMatch(/sink\.dropped/);
  });
});
