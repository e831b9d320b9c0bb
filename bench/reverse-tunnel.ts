/**
 * Reverse-tunnel detection numbers over real OpenSSH clients: runs the integration test
 * test/integration/reverse-tunnel-ssh.test.ts (real ssh / scp / git through the proxy to a real sshd)
 * `--rounds N` times, collects what each case raised, and writes the "Reverse-tunnel detection" section
 * of bench/RESULTS.md (replacing the previous one, leaving the rest of the file alone).
 *
 * Usage: npm run bench:reverse-tunnel [-- --rounds N] [--out FILE]
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

interface CaseResult {
  name: string;
  expectedReverse: boolean;
  detections: Array<{ confidence?: string; action?: string; timeToDetectMs?: number }>;
}

const START = '<!-- reverse-tunnel:start -->';
const END = '<!-- reverse-tunnel:end -->';

function option(name: string): string | undefined {
  const index = process.argv.indexOf(name);
  return index === -1 ? undefined : process.argv[index + 1];
}

const rounds = Number(option('--rounds') ?? '3');
if (!Number.isInteger(rounds) || rounds < 1) throw new Error('--rounds takes a positive integer');
const repo = fileURLToPath(new URL('../..', import.meta.url));
const outFile = option('--out') ?? path.join(repo, 'bench', 'RESULTS.md');

const results: CaseResult[] = [];
const scratch = mkdtempSync(path.join(tmpdir(), 'chokepoint-rtun-bench-'));
try {
  for (let round = 1; round <= rounds; round++) {
    const file = path.join(scratch, `round-${round}.jsonl`);
    const run = spawnSync('npx', ['vitest', 'run', 'test/integration/reverse-tunnel-ssh.test.ts'], {
      cwd: repo,
      env: { ...process.env, CHOKEPOINT_REVERSE_TUNNEL_RESULTS: file },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    if (!existsSync(file)) throw new Error(`round ${round}: the test wrote no results (exit ${run.status}); it needs root, OpenSSH and git`);
    const lines = readFileSync(file, 'utf8').split('\n').filter((line) => line.trim() !== '');
    results.push(...lines.map((line) => JSON.parse(line) as CaseResult));
    console.log(`round ${round}/${rounds}: ${lines.length} cases, test exit ${run.status}`);
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}

const median = (values: number[]): number | undefined => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length === 0 ? undefined : sorted[Math.floor(sorted.length / 2)];
};
const ms = (value: number | undefined): string => (value === undefined ? '—' : `${Math.round(value)} ms`);
const first = (result: CaseResult, confidence?: string): number | undefined =>
  result.detections.filter((d) => confidence === undefined || d.confidence === confidence).map((d) => d.timeToDetectMs ?? Number.NaN)[0];

const reverse = results.filter((r) => r.expectedReverse);
const benign = results.filter((r) => !r.expectedReverse);
const detected = reverse.filter((r) => r.detections.length > 0);
const falseAlarms = benign.filter((r) => r.detections.length > 0);

const names = [...new Set(results.map((r) => r.name))];
const rows = names.map((name) => {
  const runs = results.filter((r) => r.name === name);
  const hits = runs.filter((r) => r.detections.length > 0).length;
  const confidences = [...new Set(runs.flatMap((r) => r.detections.map((d) => d.confidence)))].join(', ') || 'none';
  const toFirst = median(runs.map((r) => first(r)).filter((v): v is number => v !== undefined));
  const toHigh = median(runs.map((r) => first(r, 'high')).filter((v): v is number => v !== undefined));
  return `| ${name} | ${runs[0]?.expectedReverse ? 'yes' : 'no'} | ${hits}/${runs.length} | ${confidences} | ${ms(toFirst)} | ${ms(toHigh)} |`;
});

const section = `${START}
## Reverse-tunnel detection

Written by \`npm run bench:reverse-tunnel\` (bench/reverse-tunnel.ts): ${rounds} round(s) of the real-OpenSSH
cases of test/integration/reverse-tunnel-ssh.test.ts (OpenSSH ssh/scp and git through Chokepoint's CONNECT or
SOCKS5 listener to a real sshd on loopback; policy \`reverse_tunnel: { high: deny, medium: alert }\`).
Time to detect is from the flow's start (the proxy accepting the tunnel) to the detection, as carried by the
event's \`time_to_detect_ms\`; it includes the SSH handshake and login (a few hundred ms on this machine).
Date: ${new Date().toISOString()}.

- Detection rate over the reverse-tunnel cases: **${detected.length}/${reverse.length}**
  (at high confidence: ${reverse.filter((r) => first(r, 'high') !== undefined).length}/${reverse.length}; the unused \`-N -R\` forward can only reach medium)
- False alarms over the benign cases (interactive \`ssh -tt\`, scp, git clone, \`-L\`, \`-D\`): **${falseAlarms.length}/${benign.length}**
- Median time to the first finding: ${ms(median(detected.map((r) => first(r) ?? Number.NaN)))}; to the high finding: ${ms(median(reverse.map((r) => first(r, 'high')).filter((v): v is number => v !== undefined)))}

| Case | Reverse tunnel | Detected | Confidences | Median time to first finding | Median time to high |
|---|---|---|---|---|---|
${rows.join('\n')}
${END}
`;

const current = existsSync(outFile) ? readFileSync(outFile, 'utf8') : '# Chokepoint benchmark results\n';
const start = current.indexOf(START);
const end = current.indexOf(END);
const updated = start !== -1 && end > start
  ? current.slice(0, start) + section.trimEnd() + current.slice(end + END.length)
  : `${current.trimEnd()}\n\n${section}`;
writeFileSync(outFile, updated);
console.log(section);
