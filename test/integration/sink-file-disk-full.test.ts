/**
 * Sinks on a disk that fills up: the real program (`chokepoint run`) keeps its log / spool on a small
 * tmpfs in a mount namespace of its own; the test fills that filesystem while curl drives flows, so a
 * write is cut mid-line by ENOSPC. The sink reports it (sink.error on a stdout sink), keeps the events
 * and, once space is freed, writes them — whole, once, in order: for the file sink `chokepoint
 * verify-log` finds the chain intact; the HTTP sink's collector gets every event once, each valid JSON.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { requireBuiltCli, runCli } from '../helpers/cli.js';
import { Collector, jsonRecords } from '../helpers/collector.js';
import { curl } from '../helpers/curl.js';
import { DENY_UNKNOWN_POLICY, tempRules, type TempRules } from '../helpers/rules.js';
import { startProxyOnTmpfs, type TmpfsProxy } from '../helpers/tmpfs-proxy.js';
import { httpUpstream, type Upstream } from '../helpers/upstreams.js';

let rules: TempRules;
let upstream: Upstream;
let work: string;
let proxy: TmpfsProxy | undefined;

beforeAll(async () => {
  requireBuiltCli();
  upstream = await httpUpstream();
  rules = await tempRules(DENY_UNKNOWN_POLICY, {
    local: `agent: local\nidentify: { sources: ["127.0.0.1/32"] }\nallow:\n  - { cidr: 127.0.0.1/32, ports: [${upstream.port}] }\n`,
  });
});
afterEach(async () => {
  proxy?.kill();
  await proxy?.stop();
  proxy = undefined;
  if (work) await rm(work, { recursive: true, force: true });
});
afterAll(async () => {
  await upstream?.close();
  await rules?.remove();
});

/** A workspace, and the proxy on a 256 KiB tmpfs mounted at <work>/mnt with `sink` and a stdout sink for sink.*. */
async function start(sink: (mount: string) => string, copyOut: string): Promise<{ proxy: TmpfsProxy; out: string; flows: (from: number, count: number) => Promise<void> }> {
  work = await mkdtemp(path.join(tmpdir(), 'chokepoint-disk-full-'));
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
      `state_dir: ${JSON.stringify(path.join(mount, 'state'))}`,
      'events: { heartbeat_s: 0 }',
      'sinks:',
      `  - ${sink(mount)}`,
      '  - { type: stdout, events: ["sink.*"] }',
      '',
    ].join('\n'),
  );
  const started = startProxyOnTmpfs({ mount, sizeKiB: 256, configFile, copyOut, out });
  proxy = started;
  const listening = await started.waitForStderr(/listening \(http 127\.0\.0\.1:(\d+)/);
  const url = `http://127.0.0.1:${listening[1]}`;
  const flows = async (from: number, count: number): Promise<void> => {
    for (let n = from; n < from + count; n += 1) {
      expect((await curl(['-x', url, `http://127.0.0.1:${upstream.port}/ok/${n}`])).status).toBe(200);
      expect((await curl(['-x', url, `http://denied-${n}.example:80/`])).status).toBe(403);
    }
  };
  return { proxy: started, out, flows };
}

describe('sinks on a full disk', () => {
  it('file sink: cuts a write torn by ENOSPC, keeps the events, writes them once there is room; verify-log passes', async () => {
    const { proxy, out, flows } = await start((mount) => `{ type: file, path: ${JSON.stringify(path.join(mount, 'events.jsonl'))} }`, 'events.jsonl');
    await flows(0, 2);
    // What is left is the slack of the log's last page: the next batch is cut inside a line.
    proxy.fill();
    await flows(2, 12);
    await proxy.waitForStdout(/"sink\.error".*ENOSPC|ENOSPC.*"sink\.error"/);
    await proxy.free();
    await flows(14, 3);
    expect(await proxy.stop(), proxy.stderr()).toBe(0);

    const result = await runCli(['verify-log', path.join(out, 'events.jsonl')]);
    expect(result.stdout).toMatch(/1 chain\(s\): the chain is intact/);
    expect(result.code).toBe(0);
    expect(proxy.stdout()).not.toMatch(/sink\.dropped/);
  });

  it('HTTP sink: a spool append torn by ENOSPC is cut off; every event reaches the collector once, in order, as valid JSON', async () => {
    const collector = await Collector.reserve();
    try {
      const { proxy, flows } = await start(() => `{ type: http, name: siem, url: ${JSON.stringify(collector.url)}, retry: { initial_ms: 50, max_ms: 200 } }`, 'state');
      await flows(0, 2);
      proxy.fill();
      await flows(2, 12);
      await proxy.waitForStdout(/"sink\.error".*ENOSPC|ENOSPC.*"sink\.error"/);
      await proxy.free();
      await flows(14, 3);
      await collector.up('up');
      const records = (): Array<{ event: { action: string; sequence: number }; destination?: { domain?: string } }> =>
        collector.accepted.flatMap((batch) => jsonRecords(batch) as Array<{ event: { action: string; sequence: number } }>);
      await collector.waitUntil(() => records().some((record) => record.event.action === 'flow.denied' && JSON.stringify(record).includes('denied-16.example')));
      expect(await proxy.stop(), proxy.stderr()).toBe(0);

      const sequences = records().map((record) => record.event.sequence);
      expect(sequences).toEqual(Array.from({ length: sequences.length }, (_, index) => index + 1));
      expect(proxy.stdout()).not.toMatch(/sink\.dropped|spool_overflow/);
    } finally {
      await collector.down();
    }
  });
});
