/**
 * Sinks from a real config file, through the built CLI: a curl through the proxy lands in a file sink
 * (ocsf format, filtered) and at an HTTP collector (Splunk HEC, token from a file); a token file that
 * cannot be read stops the start with exit 1 and a message that names the file.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { requireBuiltCli, runCli, startCli } from '../helpers/cli.js';
import { Collector, hecEvents } from '../helpers/collector.js';
import { curl } from '../helpers/curl.js';
import { sinkWorkspace, type SinkWorkspace } from '../helpers/sinks.js';
import { httpUpstream, type Upstream } from '../helpers/upstreams.js';

let workspace: SinkWorkspace;
let collector: Collector;
let upstream: Upstream;

beforeAll(() => requireBuiltCli());
beforeEach(async () => {
  workspace = await sinkWorkspace();
  collector = await Collector.reserve();
  upstream = await httpUpstream();
});
afterEach(async () => {
  await collector.down();
  await upstream.close();
  await workspace.remove();
});

function configText(tokenFile: string): string {
  return `listen: { http: "127.0.0.1:0", socks: null }
rules: ${workspace.rules.dir}
state_dir: ./state
sinks:
  - type: file
    path: out/flows.jsonl
    format: ocsf
    events: ["flow.*"]
    exclude_events: ["flow.closed"]
  - type: http
    name: hec
    url: ${collector.url}
    style: splunk_hec
    token_file: ${tokenFile}
    batch: { max_events: 10, interval_ms: 10 }
`;
}

describe('sinks through the CLI', () => {
  it('writes a flow to a filtered file sink and to a Splunk HEC collector', async () => {
    await collector.up('up');
    await writeFile(path.join(workspace.dir, 'hec.token'), 'cli-token-93ab\n');
    const config = path.join(workspace.dir, 'chokepoint.yaml');
    await writeFile(config, configText('hec.token'));
    const cli = startCli(['run', '--config', config]);
    try {
      const listening = await cli.waitForStderr(/listening \(http 127\.0\.0\.1:(\d+)\)/);
      const result = await curl(['-x', `http://127.0.0.1:${listening[1]}`, `http://127.0.0.1:${upstream.port}/via-sinks`]);
      expect(result.status, result.body).toBe(200);
      await collector.waitUntil(() => collector.accepted.flatMap(hecEvents).some((hec) => JSON.stringify(hec).includes('flow.closed')));
    } finally {
      cli.child.kill('SIGTERM');
    }
    const exit = await cli.exited;
    expect(exit.code).toBe(0);
    // No implicit stdout sink when sinks are listed.
    expect(exit.stdout).toBe('');
    const lines = (await readFile(path.join(workspace.dir, 'out', 'flows.jsonl'), 'utf8')).trim().split('\n');
    // format: ocsf — Network Activity records, the Chokepoint event name as the event code.
    const records = lines.map((line) => JSON.parse(line) as { class_uid: number; metadata: { event_code: string } });
    expect(records.map((record) => [record.class_uid, record.metadata.event_code])).toEqual([[4001, 'flow.allowed']]);
    expect(collector.accepted.every((batch) => batch.headers.authorization === 'Splunk cli-token-93ab')).toBe(true);
    expect(exit.stderr).not.toContain('cli-token-93ab');
  });

  it('exits 1 naming a token file it cannot read', async () => {
    const config = path.join(workspace.dir, 'chokepoint.yaml');
    await writeFile(config, configText('missing.token'));
    const exit = await runCli(['run', '--config', config]);
    expect(exit.code).toBe(1);
    expect(exit.stderr).toContain(`cannot read token_file ${path.join(workspace.dir, 'missing.token')}: ENOENT`);
  });
});
