/**
 * Config and rules for the Chokepoint under test: one agent ("bench") identified by its loopback source
 * address and allowed everything on 127.0.0.0/8, in enforce mode, events to a file (never stdout, so
 * event writing costs what it costs in production without flooding the bench's output).
 * Everything else keeps Chokepoint's defaults, except the flow caps below.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';

/**
 * Chokepoint caps concurrent flows (1,000 per agent by default); the idle-tunnel measurement holds 5,000
 * for one agent, so the bench raises the caps, as it raises Squid's max_filedescriptors.
 */
const MAX_FLOWS = 20_000;

export interface ChokepointLayout {
  configFile: string;
  eventsFile: string;
}

export async function writeChokepointConfig(
  workDir: string,
  ports: { http: number; socks: number },
  inspect = true,
): Promise<ChokepointLayout> {
  const rulesDir = join(workDir, 'rules');
  const eventsFile = join(workDir, 'events.jsonl');
  const configFile = join(workDir, 'config.yaml');
  await mkdir(join(rulesDir, 'agents'), { recursive: true });
  await writeFile(
    join(rulesDir, 'policy.yaml'),
    stringify({ unknown_agent: 'deny', require_credentials: false, deny: [] }),
  );
  await writeFile(
    join(rulesDir, 'agents', 'bench.yaml'),
    stringify({
      agent: 'bench',
      identify: { sources: ['127.0.0.0/8'] },
      mode: 'enforce',
      allow: [{ cidr: '127.0.0.0/8', ports: '*' }],
    }),
  );
  await writeFile(
    configFile,
    stringify({
      listen: { http: `127.0.0.1:${ports.http}`, socks: `127.0.0.1:${ports.socks}` },
      rules: rulesDir,
      events: { file: eventsFile },
      limits: { max_flows_total: MAX_FLOWS, max_flows_per_agent: MAX_FLOWS },
      state_dir: join(workDir, 'state'),
      inspect,
    }),
  );
  return { configFile, eventsFile };
}
