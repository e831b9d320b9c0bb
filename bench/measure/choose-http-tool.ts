/** Picks the HTTP load generator: wrk (installed on demand), or the Node client if that is impossible. */
import { commandVersion } from '../machine.js';
import { ensureTool } from '../proc/tools.js';
import type { HttpLoadTool } from './http-load-tool.js';
import { nodeHttpTool } from './node-http-tool.js';
import { createWrkTool } from './wrk-tool.js';

export async function chooseHttpLoadTool(): Promise<{ tool: HttpLoadTool; note?: string }> {
  const wrk = await ensureTool('wrk', 'wrk');
  if (!wrk.available) return { tool: nodeHttpTool, note: `wrk unavailable (${wrk.reason}); used the Node client` };
  // "wrk 4.1.0 [epoll] Copyright (C) 2012 Will Glozer": keep the part before the copyright notice.
  const version = (await commandVersion('wrk', ['-v']))?.replace(/\s*Copyright.*$/, '') ?? 'wrk';
  return { tool: await createWrkTool(version) };
}
