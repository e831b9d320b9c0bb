import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { normaliseHostname } from '../net/hostname.js';
import type { DetectionKind, IntelLists, RuleSource } from '../policy/types.js';
import type { ConfigError } from './errors.js';
import { messageOf } from '../error-message.js';

/**
 * Reads `rules/intel/`: lists whose entries are detections in their own right. Which list a file is
 * comes from its name; files not listed here are ignored (README.md, notes). Every bad line is an error
 * with its file and line, so a typo can never silently drop an entry.
 */

const LISTS: Record<string, { entries: 'domains' | 'ports'; kind: DetectionKind }> = {
  'mining-pools.txt': { entries: 'domains', kind: 'mining_pool' },
  'tunnel-services.txt': { entries: 'domains', kind: 'tunnel_tool' },
  'mining-ports.txt': { entries: 'ports', kind: 'mining_port' },
};

export const INTEL_DIR_NAME = 'intel';

export async function loadIntel(rulesDir: string, errors: ConfigError[]): Promise<{ intel: IntelLists; files: string[] }> {
  const domains = new Map<string, { kind: DetectionKind; source: RuleSource }>();
  const ports = new Map<number, { kind: DetectionKind; source: RuleSource }>();
  const files: string[] = [];
  for (const [name, list] of Object.entries(LISTS)) {
    const file = path.join(rulesDir, INTEL_DIR_NAME, name);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (problem) {
      const missing = problem instanceof Error && 'code' in problem && problem.code === 'ENOENT';
      if (!missing) {
        errors.push({ file, line: 0, path: '', message: `cannot read: ${messageOf(problem)}` });
      }
      continue;
    }
    files.push(file);
    text.split(/\r?\n/).forEach((raw, index) => {
      const entry = raw.replace(/#.*$/, '').trim();
      if (entry === '') return;
      const source = { file, line: index + 1 };
      if (list.entries === 'ports') {
        const port = /^\d{1,5}$/.test(entry) ? Number(entry) : NaN;
        if (port >= 1 && port <= 65535) ports.set(port, { kind: list.kind, source });
        else errors.push({ ...source, path: '', message: `"${entry.slice(0, 80)}" is not a TCP port (1-65535)` });
        return;
      }
      const host = normaliseHostname(entry);
      if ('host' in host) domains.set(host.host, { kind: list.kind, source });
      else errors.push({ ...source, path: '', message: `"${entry.slice(0, 80)}" is not a host name${'error' in host ? `: ${host.error}` : ' (addresses are not matched by intel lists)'}` });
    });
  }
  return { intel: { domains, ports }, files };
}
