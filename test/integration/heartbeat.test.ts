/**
 * proxy.heartbeat from a real proxy: counts that move, the live flows it sees, silence after stop()
 * and with `heartbeat_s: 0`. Events are counted, never timed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nextEvent } from '../helpers/event-waits.js';
import { startTestProxy, type TestProxy } from '../helpers/proxy.js';
import { connectTunnel, echoRoundTrip } from '../helpers/raw-clients.js';
import { DENY_UNKNOWN_POLICY, tempRules, type TempRules } from '../helpers/rules.js';
import { echoUpstream, type Upstream } from '../helpers/upstreams.js';

const INTERVAL_S = 0.1;

/** Resolves after `ms` (to give a stopped timer the chance to fire, not to measure anything). */
const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('proxy.heartbeat', () => {
  let rules: TempRules;
  let echo: Upstream;
  beforeAll(async () => {
    echo = await echoUpstream();
    rules = await tempRules(DENY_UNKNOWN_POLICY, {
      local: `agent: local\nidentify: { sources: ["127.0.0.1/32"] }\nallow:\n  - { cidr: 127.0.0.1/32, ports: [${echo.port}] }\n`,
    });
  });
  afterAll(async () => {
    await echo.close();
    await rules.remove();
  });

  describe('every heartbeat_s', () => {
    let proxy: TestProxy;
    beforeAll(async () => {
      proxy = await startTestProxy(rules.dir, (config) => (config.events.heartbeatSeconds = INTERVAL_S));
    });
    afterAll(() => proxy.stop());

    it('carries uptime, the events emitted so far and the live flows', async () => {
      const first = await nextEvent(proxy.log, (event) => event.event.action === 'proxy.heartbeat');
      expect(first.event.kind).toBe('state');
      expect(first.chokepoint.details).toMatchObject({ interval_s: INTERVAL_S, live_flows: 0 });
      expect(first.chokepoint.details?.['events_emitted']).toBe(first.event.sequence - 1);

      const tunnel = await connectTunnel(proxy.proxy.http?.port ?? 0, `127.0.0.1:${echo.port}`);
      expect((await echoRoundTrip(tunnel.socket, 'ping\n')).toString()).toBe('ping\n');
      const busy = await nextEvent(proxy.log, (event) => event.event.action === 'proxy.heartbeat');
      expect(busy.chokepoint.details?.['live_flows']).toBe(1);
      expect(Number(busy.chokepoint.details?.['events_emitted'])).toBeGreaterThan(Number(first.chokepoint.details?.['events_emitted']));
      expect(Number(busy.chokepoint.details?.['uptime_s'])).toBeGreaterThan(Number(first.chokepoint.details?.['uptime_s']));
      tunnel.socket.destroy();
    });

    it('stops with the proxy', async () => {
      await nextEvent(proxy.log, (event) => event.event.action === 'proxy.heartbeat');
      await proxy.stop();
      const count = proxy.log.named('proxy.heartbeat').length;
      await pause(INTERVAL_S * 1000 * 5);
      expect(proxy.log.named('proxy.heartbeat')).toHaveLength(count);
      expect(proxy.log.events.at(-1)?.event.action).toBe('proxy.stopped');
    });
  });

  it('is off with heartbeat_s: 0', async () => {
    const proxy = await startTestProxy(rules.dir, (config) => (config.events.heartbeatSeconds = 0));
    try {
      await pause(INTERVAL_S * 1000 * 5);
      expect(proxy.log.named('proxy.heartbeat')).toHaveLength(0);
    } finally {
      await proxy.stop();
    }
  });
});
