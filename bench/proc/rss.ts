/**
 * Resident memory of a process and all its descendants, from /proc. Squid may fork helpers, so "the
 * proxy's memory" is the whole tree; a Node proxy is a single process and the sum is just its own RSS.
 */
import { readdirSync, readFileSync } from 'node:fs';

function readOrNull(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null; // the process vanished between listing and reading
  }
}

/** Parent pid from /proc/<pid>/stat; the command name may contain spaces and parentheses, so parse after the last ')'. */
function parentPid(pid: number): number | null {
  const stat = readOrNull(`/proc/${pid}/stat`);
  if (stat === null) return null;
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ppid = Number.parseInt(fields[1] ?? '', 10);
  return Number.isFinite(ppid) ? ppid : null;
}

function rssKiB(pid: number): number {
  const status = readOrNull(`/proc/${pid}/status`);
  const match = status?.match(/^VmRSS:\s+(\d+)\s+kB$/m);
  return match?.[1] === undefined ? 0 : Number.parseInt(match[1], 10);
}

function descendantsOf(rootPid: number): number[] {
  const childrenOf = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number.parseInt(entry, 10);
    const ppid = parentPid(pid);
    if (ppid === null) continue;
    childrenOf.set(ppid, [...(childrenOf.get(ppid) ?? []), pid]);
  }
  const found: number[] = [];
  const queue = [rootPid];
  for (let pid = queue.shift(); pid !== undefined; pid = queue.shift()) {
    found.push(pid);
    queue.push(...(childrenOf.get(pid) ?? []));
  }
  return found;
}

/** Sum of VmRSS (KiB) over `rootPid` and its descendants. */
export function processTreeRssKiB(rootPid: number): number {
  return descendantsOf(rootPid).reduce((sum, pid) => sum + rssKiB(pid), 0);
}
