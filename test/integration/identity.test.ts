import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { curl } from '../helpers/curl.js';
import { nextEvent } from '../helpers/event-waits.js';
import { startTestProxy, type TestProxy } from '../helpers/proxy.js';
import { connectTunnel, sendRaw } from '../helpers/raw-clients.js';
import { DENY_UNKNOWN_POLICY, tempRules, type TempRules } from '../helpers/rules.js';
import { httpUpstream, type Upstream } from '../helpers/upstreams.js';

/**
 * Who a flow belongs to, through the real listeners: source addresses (most specific range wins),
 * proxy credentials (which override the source and are never silently ignored when wrong), the
 * policy for clients nobody claims, and correlation tags that ride with every event of a flow.
 */

const TOKEN = 'pinned-token-41c2';
const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');
const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

/** An agent that may reach app.test (a loopback name, hence the cidr rule too) on `ports`. */
function agentFile(name: string, identify: string, ports: number[]): string {
  return `agent: ${name}
identify: ${identify}
allow:
  - { host: app.test, ports: [${ports.join(', ')}] }
  - { cidr: 127.0.0.1/32, ports: [${ports.join(', ')}] }
`;
}

const PINNED_IDENTIFY = `{ sources: ["127.0.0.2/32"], credentials: [{ user: pinned, token_sha256: "${sha256(TOKEN)}" }] }`;

describe('agent identity', () => {
  let upstream: Upstream;
  /** Reachable only by agents that list its port. */
  let second: Upstream;
  const started: Array<{ proxy: TestProxy; rules: TempRules }> = [];

  /** A proxy of its own for each policy, so no test depends on another's reload. */
  async function proxyWith(policy: string, agents: Record<string, string>): Promise<TestProxy> {
    const rules = await tempRules(policy, agents);
    const proxy = await startTestProxy(rules.dir, (config) => config.hosts.set('app.test', ['127.0.0.1']));
    started.push({ proxy, rules });
    return proxy;
  }

  beforeAll(async () => {
    upstream = await httpUpstream();
    second = await httpUpstream();
  });
  afterAll(async () => {
    for (const { proxy, rules } of started) {
      await proxy.stop();
      await rules.remove();
    }
    await Promise.all([upstream.close(), second.close()]);
  });

  describe('by source address and credentials', () => {
    let proxy: TestProxy;
    let url: string;

    beforeAll(async () => {
      proxy = await proxyWith(DENY_UNKNOWN_POLICY, {
        pinned: agentFile('pinned', PINNED_IDENTIFY, [upstream.port]),
        broad: agentFile('broad', '{ sources: ["127.0.0.0/8"] }', [upstream.port]),
      });
      url = `http://app.test:${upstream.port}/`;
    });

    const agentOfNextFlow = () => nextEvent(proxy.log, (e) => e.event.action === 'flow.allowed');

    it('attributes a client to the most specific source range that claims it', async () => {
      const fromPinned = agentOfNextFlow();
      const pinned = await curl(['--interface', '127.0.0.2', '-x', proxy.httpUrl, url]);
      expect(pinned.status).toBe(200);
      const event = await fromPinned;
      expect(event.chokepoint.agent).toBe('pinned');
      expect(event.source?.ip).toBe('127.0.0.2');

      const fromBroad = agentOfNextFlow();
      expect((await curl(['-x', proxy.httpUrl, url])).status).toBe(200);
      expect((await fromBroad).chokepoint.agent).toBe('broad');
    });

    it('lets Proxy-Authorization: Basic credentials override the source address', async () => {
      const allowed = agentOfNextFlow();
      const result = await curl(['-x', proxy.httpUrl, '--proxy-user', `pinned:${TOKEN}`, url]);
      expect(result.status).toBe(200);
      expect((await allowed).chokepoint.agent).toBe('pinned');
      expect(upstream.requests.at(-1)?.headers['proxy-authorization']).toBeUndefined();
    });

    it('answers a wrong token with 407 and Proxy-Authenticate, even from a claimed source', async () => {
      const before = upstream.connections;
      const denied = nextEvent(proxy.log, (e) => e.event.action === 'flow.denied');
      const result = await curl(['-v', '--interface', '127.0.0.2', '-x', proxy.httpUrl, '--proxy-user', 'pinned:wrong', url]);
      expect(result.status).toBe(407);
      expect(result.stderr).toMatch(/< proxy-authenticate: Basic realm="chokepoint"/i);
      expect(JSON.parse(result.body)).toMatchObject({ error: 'invalid_credentials' });
      expect((await denied).rule?.id).toBe('auth.invalid-credentials');
      expect(upstream.connections).toBe(before);
    });

    it('answers a CONNECT with a wrong token with 407 and Proxy-Authenticate', async () => {
      const answer = await connectTunnel(proxy.proxy.http?.port ?? 0, `app.test:${upstream.port}`, {
        headers: { 'proxy-authorization': basic('pinned', 'wrong') },
      });
      expect(answer.status).toBe(407);
      expect(answer.head).toMatch(/\r\nproxy-authenticate: Basic realm="chokepoint"/i);
      expect(JSON.parse(answer.body)).toMatchObject({ error: 'invalid_credentials' });
    });

    it('puts Chokepoint-Tags of a CONNECT into the labels of every event of the flow', async () => {
      const allowed = nextEvent(proxy.log, (e) => e.event.action === 'flow.allowed' && e.chokepoint.entry === 'connect');
      const result = await curl([
        '-p', '-x', proxy.httpUrl, '--proxy-header', 'Chokepoint-Tags: run=r7, step=2, call=c-9', `http://app.test:${upstream.port}/tunnelled`,
      ]);
      expect(result.status).toBe(200);
      expect(upstream.requests.at(-1)?.url).toBe('/tunnelled');
      expect(upstream.requests.at(-1)?.headers['chokepoint-tags']).toBeUndefined();
      const flowId = (await allowed).chokepoint.flow_id;
      await proxy.log.waitFor((e) => e.event.action === 'flow.closed' && e.chokepoint.flow_id === flowId);
      const ofFlow = proxy.log.events.filter((e) => e.chokepoint.flow_id === flowId);
      expect(ofFlow.map((e) => e.event.action)).toEqual(['flow.allowed', 'flow.closed']);
      for (const event of ofFlow) expect(event.labels).toEqual({ run: 'r7', step: '2', call: 'c-9' });
    });

    it('takes Chokepoint-Tags of a plain HTTP request into labels and does not forward the header', async () => {
      const allowed = agentOfNextFlow();
      const result = await curl(['-x', proxy.httpUrl, '-H', 'Chokepoint-Tags: episode=12', `http://app.test:${upstream.port}/plain`]);
      expect(result.status).toBe(200);
      const seen = upstream.requests.at(-1);
      expect(seen?.url).toBe('/plain');
      expect(seen?.headers['chokepoint-tags']).toBeUndefined();
      expect((await allowed).labels).toEqual({ episode: '12' });
    });

    it('refuses a malformed Chokepoint-Tags header with 400, on plain HTTP and on CONNECT', async () => {
      const before = upstream.connections;
      const plain = await curl(['-x', proxy.httpUrl, '-H', 'Chokepoint-Tags: not a tag', url]);
      expect(plain.status).toBe(400);
      expect(JSON.parse(plain.body).reason).toMatch(/Chokepoint-Tags/);
      const tunnel = await curl(['-p', '-x', proxy.httpUrl, '--proxy-header', 'Chokepoint-Tags: run=has space', url]);
      expect(tunnel.connectStatus).toBe(400);
      expect(upstream.connections).toBe(before);
    });
  });

  describe('require_credentials: true', () => {
    let proxy: TestProxy;
    let url: string;

    beforeAll(async () => {
      proxy = await proxyWith('unknown_agent: deny\nrequire_credentials: true\n', {
        pinned: agentFile('pinned', PINNED_IDENTIFY, [upstream.port]),
      });
      url = `http://app.test:${upstream.port}/`;
    });

    it('answers 407 with Proxy-Authenticate to an unclaimed client without credentials', async () => {
      const result = await curl(['-v', '-x', proxy.httpUrl, url]);
      expect(result.status).toBe(407);
      expect(result.stderr).toMatch(/< proxy-authenticate: Basic realm="chokepoint"/i);
      expect(JSON.parse(result.body)).toMatchObject({ error: 'credentials_required' });
    });

    it('admits the same client once it presents credentials', async () => {
      const result = await curl(['-x', proxy.httpUrl, '--proxy-user', `pinned:${TOKEN}`, url]);
      expect(result.status).toBe(200);
    });

    it('admits a client whose source address an agent claims, without credentials', async () => {
      const result = await curl(['--interface', '127.0.0.2', '-x', proxy.httpUrl, url]);
      expect(result.status).toBe(200);
    });

    it('admits a SOCKS5 client whose source address an agent claims, without authentication', async () => {
      const allowed = nextEvent(proxy.log, (e) => e.event.action === 'flow.allowed');
      const result = await curl(['--interface', '127.0.0.2', '-x', `socks5h://127.0.0.1:${proxy.socksPort}`, url]);
      expect(result.code).toBe(0);
      expect(result.body).toBe('hello from upstream\n');
      expect((await allowed).chokepoint.agent).toBe('pinned');
    });

    it('offers an unclaimed SOCKS5 client no acceptable method when it cannot authenticate', async () => {
      const answer = await sendRaw(proxy.socksPort, Buffer.from([0x05, 0x01, 0x00]));
      expect([...answer]).toEqual([0x05, 0xff]);
    });
  });

  describe('unknown_agent: deny', () => {
    let proxy: TestProxy;

    beforeAll(async () => {
      proxy = await proxyWith(DENY_UNKNOWN_POLICY, { pinned: agentFile('pinned', PINNED_IDENTIFY, [upstream.port]) });
    });

    it('refuses an unclaimed client with 403 and rule unknown-agent', async () => {
      const before = upstream.connections;
      const result = await curl(['-x', proxy.httpUrl, `http://app.test:${upstream.port}/`]);
      expect(result.status).toBe(403);
      expect(JSON.parse(result.body)).toMatchObject({ error: 'denied', rule: 'unknown-agent', agent: 'unknown' });
      expect(proxy.log.named('flow.denied').at(-1)?.rule?.id).toBe('unknown-agent');
      expect(upstream.connections).toBe(before);
    });
  });

  describe('unknown_agent: <agent name>', () => {
    let proxy: TestProxy;

    beforeAll(async () => {
      proxy = await proxyWith('unknown_agent: guest\nrequire_credentials: false\n', {
        pinned: agentFile('pinned', PINNED_IDENTIFY, [upstream.port, second.port]),
        guest: agentFile('guest', '{}', [upstream.port]),
      });
    });

    it("gives an unclaimed client that agent's rules: what it allows passes", async () => {
      const allowed = nextEvent(proxy.log, (e) => e.event.action === 'flow.allowed');
      const result = await curl(['-x', proxy.httpUrl, `http://app.test:${upstream.port}/guest`]);
      expect(result.status).toBe(200);
      expect((await allowed).chokepoint.agent).toBe('guest');
    });

    it("and what only another agent may reach is refused by that agent's default deny", async () => {
      const result = await curl(['-x', proxy.httpUrl, `http://app.test:${second.port}/`]);
      expect(result.status).toBe(403);
      expect(JSON.parse(result.body)).toMatchObject({ rule: 'default-deny', agent: 'guest' });
      expect(second.connections).toBe(0);
      const pinned = await curl(['--interface', '127.0.0.2', '-x', proxy.httpUrl, `http://app.test:${second.port}/`]);
      expect(pinned.status).toBe(200);
    });
  });
});
