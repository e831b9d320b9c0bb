import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChokepointEvent } from '../../src/events/types.js';
import { adminCall, adminToken } from '../helpers/admin.js';
import { nextEvent } from '../helpers/event-waits.js';
import { startTestProxy, type TestProxy } from '../helpers/proxy.js';
import { curl } from '../helpers/curl.js';
import { connectTunnel } from '../helpers/raw-clients.js';
import { DENY_UNKNOWN_POLICY, tempRules, type TempRules } from '../helpers/rules.js';
import { echoUpstream, httpUpstream, type Upstream } from '../helpers/upstreams.js';

/**
 * The dry-run (POST /v1/decide, and so `chokepoint check`) must say what the real pipeline does. Each
 * target of the table is asked of the admin API and then really CONNECTed through the proxy by the
 * same agent (a CONNECT tunnel speaking the given protocol, or a plain-HTTP request through the forward
 * proxy); the decision, its rule and whether it was enforced must agree.
 */

const SSH_BANNER = 'SSH-2.0-OpenSSH_9.6\r\n';

describe('dry-run parity with the pipeline', () => {
  let rules: TempRules;
  let proxy: TestProxy;
  let echo: Upstream;
  let web: Upstream;
  let token: string;

  beforeAll(async () => {
    echo = await echoUpstream();
    web = await httpUpstream();
    rules = await tempRules(DENY_UNKNOWN_POLICY, {
      coder: `agent: coder
identify: { sources: ["127.0.0.1/32"] }
allow:
  - { host: echo.test, ports: [${echo.port}] }
  - { host: private.test, ports: [${echo.port}] }
  - { host: mixed.test, ports: [${echo.port}] }
  - { host: web.test, ports: [${echo.port}], protocols: [http] }
  - { host: web.test, ports: [${web.port}] }
  - { host: tlsonly.test, ports: [${web.port}], protocols: [tls] }
  - { cidr: 127.0.0.1/32, ports: [${echo.port}, ${web.port}] }
alert:
  - { host: watched.test, ports: [${echo.port}] }
deny:
  - { host: blocked.test, reason: "blocked.test is off limits" }
`,
      auditor: `agent: auditor
mode: audit
identify: { sources: ["127.0.0.2/32"] }
allow:
  - { host: echo.test, ports: [${echo.port}] }
  - { cidr: 127.0.0.1/32, ports: [${echo.port}] }
  - { host: tlsonly.test, ports: [${web.port}], protocols: [tls] }
deny:
  - { host: blocked.test }
`,
    });
    token = adminToken();
    proxy = await startTestProxy(rules.dir, (config) => {
      for (const name of ['echo.test', 'blocked.test', 'watched.test', 'web.test', 'tlsonly.test']) config.hosts.set(name, ['127.0.0.1']);
      config.hosts.set('private.test', ['10.9.8.7']);
      config.hosts.set('mixed.test', ['127.0.0.1', '192.168.7.7']);
      config.listen.admin = { host: '127.0.0.1', port: 0 };
      config.admin = { token };
    });
  });
  afterAll(async () => {
    await proxy?.stop();
    await Promise.all([echo?.close(), web?.close()]);
    await rules?.remove();
  });

  /** `PORT` / `WPORT` in a target are the echo / HTTP upstream's ports (known once they listen). */
  type Case = { agent: 'coder' | 'auditor'; target: string; speak?: 'ssh' | 'http'; via?: 'forward' };
  const authority = (item: Case): string => item.target.replace('WPORT', String(web.port)).replace('PORT', String(echo.port));
  const source = { coder: '127.0.0.1', auditor: '127.0.0.2' } as const;
  const CASES: Case[] = [
    { agent: 'coder', target: 'echo.test:PORT' },
    { agent: 'coder', target: 'echo.test:1' },
    { agent: 'coder', target: 'blocked.test:PORT' },
    { agent: 'coder', target: 'watched.test:PORT' },
    { agent: 'coder', target: '127.0.0.1:PORT' },
    { agent: 'coder', target: '127.0.0.2:PORT' },
    { agent: 'coder', target: 'private.test:PORT' },
    { agent: 'coder', target: 'mixed.test:PORT' },
    { agent: 'coder', target: 'echo.test:PORT', speak: 'ssh' },
    { agent: 'coder', target: 'echo.test:PORT', speak: 'http' },
    { agent: 'coder', target: 'web.test:PORT', speak: 'ssh' },
    { agent: 'coder', target: 'web.test:PORT', speak: 'http' },
    { agent: 'auditor', target: 'echo.test:PORT' },
    { agent: 'auditor', target: 'blocked.test:PORT' },
    { agent: 'auditor', target: '127.0.0.1:PORT' },
    { agent: 'auditor', target: 'echo.test:PORT', speak: 'ssh' },
    { agent: 'coder', target: 'web.test:WPORT', speak: 'http', via: 'forward' },
    { agent: 'coder', target: 'tlsonly.test:WPORT', speak: 'http', via: 'forward' },
    { agent: 'coder', target: 'blocked.test:WPORT', speak: 'http', via: 'forward' },
    { agent: 'coder', target: '127.0.0.1:WPORT', speak: 'http', via: 'forward' },
    { agent: 'auditor', target: 'tlsonly.test:WPORT', speak: 'http', via: 'forward' },
  ];

  /**
   * What the proxy really did: the flow's last decision event — its admission, or a refusal on its bytes.
   * An audit agent's refusal on its bytes is only a detection event (enforced: false), so those count too.
   */
  async function realDecision(item: Case): Promise<{ action: string; rule: string; enforced: boolean }> {
    const closed = nextEvent(proxy.log, (event) => event.event.action === 'flow.closed' && event.chokepoint.agent === item.agent);
    const from = proxy.log.events.length;
    if (item.via === 'forward') {
      const answer = await curl(['--interface', source[item.agent], '-x', `http://127.0.0.1:${proxy.proxy.http?.port ?? 0}`, `http://${authority(item)}/`]);
      if (answer.status === 200) await closed;
    } else await tunnelThrough(item, closed);
    return lastDecision(item, from);
  }

  async function tunnelThrough(item: Case, closed: Promise<ChokepointEvent>): Promise<void> {
    const tunnel = await connectTunnel(proxy.proxy.http?.port ?? 0, authority(item), { localAddress: source[item.agent] });
    if (tunnel.status === 200) {
      const http = `GET / HTTP/1.1\r\nHost: ${authority(item)}\r\n\r\n`;
      tunnel.socket.end(item.speak === 'ssh' ? SSH_BANNER : item.speak === 'http' ? http : 'hello');
      tunnel.socket.resume();
      await closed;
    }
    tunnel.socket.destroy();
  }

  function lastDecision(item: Case, from: number): { action: string; rule: string; enforced: boolean } {
    const isDecision = (event: ChokepointEvent): boolean =>
      ['flow.allowed', 'flow.alerted', 'flow.denied'].includes(event.event.action) ||
      (event.event.action.startsWith('detection.') && event.chokepoint.detection?.action !== 'alert');
    const decisions = proxy.log.events.slice(from).filter((event) => isDecision(event) && event.chokepoint.agent === item.agent);
    const last = decisions.at(-1);
    if (!last) throw new Error(`no decision event for ${item.agent} → ${authority(item)}`);
    const detection = last.chokepoint.detection;
    if (detection) return { action: 'deny', rule: `detection.${detection.kind}`, enforced: last.chokepoint.enforced === true };
    const action = last.event.action === 'flow.allowed' ? 'allow' : last.event.action === 'flow.alerted' ? 'alert' : 'deny';
    return { action, rule: last.rule?.id ?? '', enforced: action === 'deny' && last.chokepoint.enforced !== false };
  }

  it.each(CASES.map((item) => [`${item.agent} → ${item.target}${item.speak ? ` speaking ${item.speak}` : ''}${item.via ? ' through the forward proxy' : ''}`, item] as const))(
    '%s',
    async (_name, item) => {
      const asked = await adminCall(proxy.proxy.admin?.port ?? 0, 'POST', '/v1/decide', {
        token,
        body: { agent: item.agent, target: authority(item), ...(item.speak ? { protocol: item.speak } : {}) },
      });
      expect(asked.status).toBe(200);
      const real = await realDecision(item);
      expect({ action: asked.json?.action, rule: asked.json?.rule, enforced: asked.json?.enforced }).toEqual(real);
    },
  );
});
