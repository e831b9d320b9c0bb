import type { DetectionKind, IntelLists, RuleSource } from './types.js';

/** The intel entry a name matches: itself or its nearest listed parent domain (a few Map lookups). */
export function intelForHost(intel: IntelLists, host: string): { name: string; kind: DetectionKind; source: RuleSource } | undefined {
  for (let name = host; ; ) {
    const hit = intel.domains.get(name);
    if (hit) return { name, ...hit };
    const dot = name.indexOf('.');
    if (dot < 0) return undefined;
    name = name.slice(dot + 1);
  }
}
