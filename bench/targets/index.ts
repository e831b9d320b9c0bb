/** Every target the bench knows, in the column order of the results. */
import { startChokepoint, startChokepointUninspected } from './chokepoint.js';
import { directTarget } from './direct.js';
import { proxyTarget } from './proxy-target.js';
import { startSquid } from './squid.js';
import type { BenchTarget } from './types.js';

export const ALL_TARGETS: readonly BenchTarget[] = [
  directTarget,
  proxyTarget('squid', startSquid),
  proxyTarget('chokepoint', startChokepoint),
  proxyTarget('chokepoint-raw', startChokepointUninspected),
];
