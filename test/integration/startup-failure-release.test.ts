import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ListenError } from '../../src/server.js';
import { startTestProxy } from '../helpers/proxy.js';
import { DENY_UNKNOWN_POLICY, tempRules, type TempRules } from '../helpers/rules.js';

/**
 * A start that fails half-way (the last listener cannot bind) releases everything it had opened: the
 * other listeners — the DNS listener's UDP and TCP sockets included — so an in-process caller that goes
 * on (tests, an embedding program) holds no port and no handle of the failed proxy.
 */

/**
 * Handles of the kinds a listener holds, counted by type. libuv drops a closed handle from the active
 * list in its close-callbacks phase, after the check phase: a few loop turns are let pass first.
 */
async function listenerHandles(): Promise<{ udp: number; tcpServers: number }> {
  for (let turn = 0; turn < 3; turn++) await new Promise((resolve) => setImmediate(resolve));
  const info = process.getActiveResourcesInfo();
  return { udp: info.filter((kind) => kind === 'UDPWrap').length, tcpServers: info.filter((kind) => kind === 'TCPServerWrap').length };
}

describe('start-up that fails on the last listener', () => {
  let rules: TempRules;
  let blocker: net.Server;
  let takenPort: number;

  beforeAll(async () => {
    rules = await tempRules(DENY_UNKNOWN_POLICY, {});
    blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    takenPort = (blocker.address() as net.AddressInfo).port;
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => blocker.close(() => resolve()));
    await rules.remove();
  });

  it('closes the HTTP, SOCKS and DNS listeners it had bound before the transparent one failed', async () => {
    const before = await listenerHandles();
    const started = startTestProxy(rules.dir, (config) => {
      config.listen.dns = { host: '127.0.0.1', port: 0 };
      config.dns.upstreams = [{ host: '127.0.0.1', port: 9 }];
      config.listen.transparent = { host: '127.0.0.1', port: takenPort };
    });
    await expect(started).rejects.toBeInstanceOf(ListenError);
    await expect(started).rejects.toThrow(/transparent/);
    expect(await listenerHandles()).toEqual(before);
  });
});
