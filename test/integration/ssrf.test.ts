import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { curl } from '../helpers/curl.js';
import { nextEvent } from '../helpers/event-waits.js';
import { startTestProxy, type TestProxy } from '../helpers/proxy.js';
import { connectTunnel, sendRaw, socks5Connect } from '../helpers/raw-clients.js';
import { DENY_UNKNOWN_POLICY, tempRules, type TempRules } from '../helpers/rules.js';
import { httpUpstream, type Upstream } from '../helpers/upstreams.js';

/**
 * The SSRF guard through the real listeners: every spelling of a loopback address, names that resolve
 * to special addresses, and the narrow cidr rule that is the only key to them. The guarded upstream
 * listens on loopback and must see no connection at all.
 *
 * Safety: a test may only ever dial loopback. Non-loopback addresses (8.8.8.8, 192.0.2.1,
 * 169.254.169.254) appear only where a correct proxy denies, and in a name's address list they come
 * after a loopback address, so that even a proxy wrongly allowing the flow would dial loopback first.
 */

const NARROW_TOKEN = 'narrow-token-90de';
const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

/** Ways a client can write a loopback address as a URL or CONNECT host, with the address events report. */
const LOOPBACK_SPELLINGS: Array<[spelling: string, canonical: string]> = [
  ['2130706433', '127.0.0.1'],
  ['0x7f.1', '127.0.0.1'],
  ['0177.0.0.1', '127.0.0.1'],
  ['127.1', '127.0.0.1'],
  ['[::ffff:127.0.0.1]', '::ffff:127.0.0.1'],
  ['[::ffff:7f00:1]', '::ffff:127.0.0.1'],
  ['[64:ff9b::7f00:1]', '64:ff9b::7f00:1'],
  ['[::127.0.0.1]', '::7f00:1'],
  ['[2002:7f00:1::]', '2002:7f00:1::'],
  ['[::1]', '::1'],
];

interface Refusal {
  error?: string;
  reason?: string;
  rule?: string;
  agent?: string;
  flow?: string;
}

describe('SSRF guard', () => {
  let rules: TempRules;
  let proxy: TestProxy;
  /** Must never be reached: every flow aimed at it is denied. */
  let guarded: Upstream;
  /** Reachable, but only through the narrow cidr rule of agent `narrow`. */
  let reachable: Upstream;
  let httpPort: number;

  beforeAll(async () => {
    guarded = await httpUpstream();
    reachable = await httpUpstream();
    const ports = `[${guarded.port}, ${reachable.port}]`;
    rules = await tempRules(DENY_UNKNOWN_POLICY, {
      // Every host and every address on these ports, yet nothing special: neither "*" nor /0 unlocks it.
      wide: `agent: wide
identify: { sources: ["127.0.0.1/32"] }
allow:
  - { host: "*", ports: ${ports} }
  - { cidr: 0.0.0.0/0, ports: ${ports} }
  - { cidr: "::/0", ports: ${ports} }
`,
      narrow: `agent: narrow
identify:
  credentials: [{ user: narrow, token_sha256: "${sha256(NARROW_TOKEN)}" }]
allow:
  - { host: loop.test, ports: ${ports} }
  - { host: docmix.test, ports: [${reachable.port}] }
  - { cidr: 127.0.0.1/32, ports: [${reachable.port}] }
`,
    });
    proxy = await startTestProxy(rules.dir, (config) => {
      config.hosts.set('loop.test', ['127.0.0.1']);
      config.hosts.set('mixed.test', ['127.0.0.1', '8.8.8.8']);
      config.hosts.set('docmix.test', ['127.0.0.1', '192.0.2.1']);
      config.hosts.set('meta.test', ['169.254.169.254']);
    });
    httpPort = proxy.proxy.http?.port ?? 0;
  });
  afterAll(async () => {
    await proxy.stop();
    await Promise.all([guarded.close(), reachable.close()]);
    await rules.remove();
  });

  const deniedWith = (rule: string) => nextEvent(proxy.log, (e) => e.event.action === 'flow.denied' && e.rule?.id === rule);

  describe.each(LOOPBACK_SPELLINGS)('loopback spelled %s', (host, canonical) => {
    it('is denied as ssrf.loopback for a plain HTTP request (curl)', async () => {
      const denied = deniedWith('ssrf.loopback');
      const result = await curl(['-x', proxy.httpUrl, `http://${host}:${guarded.port}/`]);
      expect(result.status).toBe(403);
      expect(JSON.parse(result.body)).toMatchObject({ error: 'denied', rule: 'ssrf.loopback', agent: 'wide' });
      expect((await denied).chokepoint.agent).toBe('wide');
      expect(guarded.connections).toBe(0);
    });

    it('is denied as ssrf.loopback for a CONNECT (curl)', async () => {
      const result = await curl(['-p', '-x', proxy.httpUrl, `http://${host}:${guarded.port}/`]);
      expect(result.connectStatus).toBe(403);
      expect(guarded.connections).toBe(0);
    });

    // curl rewrites legacy IPv4 forms to dotted quads; a raw client sends the spelling itself.
    it('is denied as ssrf.loopback for an absolute-URI request written byte for byte', async () => {
      const answer = (await sendRaw(httpPort, `GET http://${host}:${guarded.port}/ HTTP/1.1\r\nHost: ${host}:${guarded.port}\r\nConnection: close\r\n\r\n`)).toString();
      expect(answer).toMatch(/^HTTP\/1\.1 403 /);
      const body = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) as Refusal;
      expect(body.rule).toBe('ssrf.loopback');
      expect(guarded.connections).toBe(0);
    });

    it('is denied as ssrf.loopback for a CONNECT written byte for byte', async () => {
      const denied = deniedWith('ssrf.loopback');
      const answer = await connectTunnel(httpPort, `${host}:${guarded.port}`);
      expect(answer.status).toBe(403);
      expect((JSON.parse(answer.body) as Refusal).rule).toBe('ssrf.loopback');
      const event = await denied;
      expect(event.chokepoint.entry).toBe('connect');
      expect(event.chokepoint.resolved).toEqual([canonical]);
      expect(guarded.connections).toBe(0);
    });
  });

  // Connecting to the unspecified address reaches this host on Linux: it is loopback in disguise.
  it.each(['0.0.0.0', '0', '[::]'])('denies the unspecified address %s as ssrf.unspecified', async (host) => {
    const result = await curl(['-x', proxy.httpUrl, `http://${host}:${guarded.port}/`]);
    expect(result.status).toBe(403);
    expect((JSON.parse(result.body) as Refusal).rule).toBe('ssrf.unspecified');
    const tunnel = await connectTunnel(httpPort, `${host}:${guarded.port}`);
    expect(tunnel.status).toBe(403);
    expect((JSON.parse(tunnel.body) as Refusal).rule).toBe('ssrf.unspecified');
    expect(guarded.connections).toBe(0);
  });

  it('denies an IP literal sent as a SOCKS5 domain name', async () => {
    const answer = await socks5Connect(proxy.socksPort, '0x7f.1', guarded.port);
    expect(answer.reply).toBe(0x02);
    expect(proxy.log.named('flow.denied').at(-1)?.rule?.id).toBe('ssrf.loopback');
    expect(guarded.connections).toBe(0);
  });

  describe('names that resolve to special addresses', () => {
    it('denies a name resolving to 127.0.0.1 under a "*" host rule and a 0.0.0.0/0 cidr rule', async () => {
      const plain = await curl(['-x', proxy.httpUrl, `http://loop.test:${guarded.port}/`]);
      expect(plain.status).toBe(403);
      const body = JSON.parse(plain.body) as Refusal;
      expect(body).toMatchObject({ rule: 'ssrf.loopback', agent: 'wide' });
      expect(body.reason).toMatch(/loop\.test resolves to 127\.0\.0\.1/);
      const tunnel = await curl(['-p', '-x', proxy.httpUrl, `http://loop.test:${guarded.port}/`]);
      expect(tunnel.connectStatus).toBe(403);
      const socks = await socks5Connect(proxy.socksPort, 'loop.test', guarded.port);
      expect(socks.reply).toBe(0x02);
      expect(guarded.connections).toBe(0);
    });

    it('denies it under an exact host rule when no cidr rule on that port covers 127.0.0.1', async () => {
      const denied = deniedWith('ssrf.loopback');
      const result = await curl(['-x', proxy.httpUrl, '--proxy-user', `narrow:${NARROW_TOKEN}`, `http://loop.test:${guarded.port}/`]);
      expect(result.status).toBe(403);
      expect(JSON.parse(result.body)).toMatchObject({ rule: 'ssrf.loopback', agent: 'narrow' });
      expect((await denied).chokepoint.agent).toBe('narrow');
      expect(guarded.connections).toBe(0);
    });

    it('allows it where a cidr: 127.0.0.1/32 rule covers the port', async () => {
      const allowed = nextEvent(proxy.log, (e) => e.event.action === 'flow.allowed');
      const result = await curl(['-x', proxy.httpUrl, '--proxy-user', `narrow:${NARROW_TOKEN}`, `http://loop.test:${reachable.port}/ok`]);
      expect(result.status).toBe(200);
      expect(reachable.requests.at(-1)?.url).toBe('/ok');
      const event = await allowed;
      expect(event.chokepoint.agent).toBe('narrow');
      expect(event.destination).toMatchObject({ domain: 'loop.test', ip: '127.0.0.1' });
    });

    it('denies a name whose addresses mix loopback and a public-looking one, as a whole', async () => {
      const denied = deniedWith('ssrf.loopback');
      const result = await curl(['-x', proxy.httpUrl, `http://mixed.test:${guarded.port}/`]);
      expect(result.status).toBe(403);
      expect((JSON.parse(result.body) as Refusal).rule).toBe('ssrf.loopback');
      const event = await denied;
      expect(event.chokepoint.resolved).toEqual(['127.0.0.1', '8.8.8.8']);
      expect(event.destination?.domain).toBe('mixed.test');
      expect(guarded.connections).toBe(0);
    });

    it('denies a name whose loopback address is unlocked but whose other address is documentation space', async () => {
      const before = reachable.connections;
      const result = await curl(['-x', proxy.httpUrl, '--proxy-user', `narrow:${NARROW_TOKEN}`, `http://docmix.test:${reachable.port}/`]);
      expect(result.status).toBe(403);
      expect(JSON.parse(result.body)).toMatchObject({ rule: 'ssrf.documentation', agent: 'narrow' });
      expect(reachable.connections).toBe(before);
    });

    it.each([
      ['a name resolving to it', 'meta.test'],
      ['the IPv4 literal', '169.254.169.254'],
      ['its IPv4-mapped IPv6 spelling', '[::ffff:169.254.169.254]'],
    ])('denies the cloud metadata address, given as %s, as ssrf.metadata', async (_how, host) => {
      const plain = await curl(['-x', proxy.httpUrl, `http://${host}:${guarded.port}/latest/meta-data/`]);
      expect(plain.status).toBe(403);
      expect((JSON.parse(plain.body) as Refusal).rule).toBe('ssrf.metadata');
      const tunnel = await connectTunnel(httpPort, `${host}:${guarded.port}`);
      expect(tunnel.status).toBe(403);
      expect((JSON.parse(tunnel.body) as Refusal).rule).toBe('ssrf.metadata');
    });
  });
});
