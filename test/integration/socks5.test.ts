import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { curl } from '../helpers/curl.js';
import { nextEvent } from '../helpers/event-waits.js';
import { startTestProxy, type TestProxy } from '../helpers/proxy.js';
import { connectTo, readToEnd, sendRaw } from '../helpers/raw-clients.js';
import { DENY_UNKNOWN_POLICY, tempRules, type TempRules } from '../helpers/rules.js';
import { echoUpstream, httpUpstream, type Upstream } from '../helpers/upstreams.js';

/**
 * The SOCKS5 entry end to end: real curl with remote (socks5h) and local (socks5) resolution, IPv4 and
 * IPv6 targets, user/password authentication with tags in the user name, and the reply codes of a
 * hand-written client for what curl never sends.
 */

const TOKEN = 'socks-token-7f3a';
const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

/** Client messages of RFC 1928 / RFC 1929, built byte by byte. */
const socks = {
  greeting: (...methods: number[]): Buffer => Buffer.from([0x05, methods.length, ...methods]),
  login: (user: string, password: string): Buffer =>
    Buffer.concat([Buffer.from([0x01, user.length]), Buffer.from(user), Buffer.from([password.length]), Buffer.from(password)]),
  request: (command: number, addressType: number, address: Buffer, port: number): Buffer =>
    Buffer.concat([Buffer.from([0x05, command, 0x00, addressType]), address, Buffer.from([port >> 8, port & 0xff])]),
  domain: (name: string): Buffer => Buffer.concat([Buffer.from([name.length]), Buffer.from(name)]),
};
const CONNECT = 0x01;
const BIND = 0x02;
const UDP_ASSOCIATE = 0x03;
const DOMAIN = 0x03;
const IPV4 = 0x01;
/** Method selection "no authentication", as the proxy answers a greeting offering it. */
const NO_AUTH_CHOSEN = [0x05, 0x00];

describe('SOCKS5 listener', () => {
  let rules: TempRules;
  let proxy: TestProxy;
  let web: Upstream;
  let web6: Upstream;
  let echo: Upstream;

  beforeAll(async () => {
    web = await httpUpstream();
    web6 = await httpUpstream(undefined, '::1');
    echo = await echoUpstream();
    const loopbackRules = `
  - { host: app.test, ports: [${web.port}] }
  - { host: echo.test, ports: [${echo.port}] }
  - { cidr: 127.0.0.1/32, ports: [${web.port}, ${echo.port}] }
  - { cidr: "::1/128", ports: [${web6.port}] }`;
    rules = await tempRules(DENY_UNKNOWN_POLICY, {
      coder: `agent: coder
identify: { sources: ["127.0.0.1/32"] }
allow:${loopbackRules}
deny:
  - { host: blocked.test, reason: "blocked.test is off limits" }
`,
      keyed: `agent: keyed
identify:
  credentials: [{ user: keyed, token_sha256: "${sha256(TOKEN)}" }]
allow:${loopbackRules}
`,
    });
    proxy = await startTestProxy(rules.dir, (config) => {
      for (const name of ['app.test', 'echo.test', 'blocked.test']) config.hosts.set(name, ['127.0.0.1']);
    });
  });
  afterAll(async () => {
    await proxy.stop();
    await Promise.all([web.close(), web6.close(), echo.close()]);
    await rules.remove();
  });

  const socksProxy = (scheme: 'socks5' | 'socks5h'): string => `${scheme}://127.0.0.1:${proxy.socksPort}`;
  const allowedVia = (destinationPort: number) => nextEvent(proxy.log, (e) => e.event.action === 'flow.allowed' && e.destination?.port === destinationPort);

  describe('with curl', () => {
    it('lets the proxy resolve a domain target (socks5h)', async () => {
      const allowed = allowedVia(web.port);
      const result = await curl(['-x', socksProxy('socks5h'), `http://app.test:${web.port}/remote`]);
      expect(result.code).toBe(0);
      expect(result.body).toBe('hello from upstream\n');
      expect(web.requests.at(-1)?.url).toBe('/remote');
      const event = await allowed;
      expect(event.chokepoint).toMatchObject({ agent: 'coder', entry: 'socks5' });
      expect(event.destination).toMatchObject({ domain: 'app.test', ip: '127.0.0.1' });
    });

    it('connects to an IPv4 literal the client resolved (socks5)', async () => {
      const allowed = allowedVia(web.port);
      const result = await curl(['-x', socksProxy('socks5'), `http://127.0.0.1:${web.port}/local`]);
      expect(result.code).toBe(0);
      expect(web.requests.at(-1)?.url).toBe('/local');
      const event = await allowed;
      expect(event.destination?.ip).toBe('127.0.0.1');
      expect(event.destination?.domain).toBeUndefined();
      expect(event.rule?.id).toBe('coder.allow.2');
    });

    it('connects to an IPv6 target [::1]', async () => {
      const allowed = allowedVia(web6.port);
      const result = await curl(['-x', socksProxy('socks5'), `http://[::1]:${web6.port}/v6`]);
      expect(result.code).toBe(0);
      expect(result.body).toBe('hello from upstream\n');
      expect(web6.requests.at(-1)?.url).toBe('/v6');
      expect((await allowed).destination?.ip).toBe('::1');
    });

    it('identifies the agent by user name and password, overriding the source address', async () => {
      const allowed = allowedVia(web.port);
      const result = await curl(['-x', socksProxy('socks5h'), '--proxy-user', `keyed:${TOKEN}`, `http://app.test:${web.port}/keyed`]);
      expect(result.code).toBe(0);
      expect(web.requests.at(-1)?.url).toBe('/keyed');
      expect((await allowed).chokepoint.agent).toBe('keyed');
    });

    it('puts tags from the user name (agent;run=r9;episode=3) into the event labels', async () => {
      const allowed = allowedVia(web.port);
      const result = await curl(['-x', socksProxy('socks5h'), '--proxy-user', `keyed;run=r9;episode=3:${TOKEN}`, `http://app.test:${web.port}/tagged`]);
      expect(result.code).toBe(0);
      const event = await allowed;
      expect(event.chokepoint.agent).toBe('keyed');
      expect(event.labels).toEqual({ run: 'r9', episode: '3' });
      const closed = await proxy.log.waitFor((e) => e.event.action === 'flow.closed' && e.chokepoint.flow_id === event.chokepoint.flow_id);
      expect(closed.labels).toEqual({ run: 'r9', episode: '3' });
    });

    it('fails authentication on a wrong password, reports it, and never dials', async () => {
      const before = web.connections;
      const denied = nextEvent(proxy.log, (e) => e.event.action === 'flow.denied' && e.rule?.id === 'auth.invalid-credentials');
      const result = await curl(['-x', socksProxy('socks5h'), '--proxy-user', 'keyed:wrong-token', `http://app.test:${web.port}/`]);
      expect(result.code).not.toBe(0);
      expect(result.body).toBe('');
      const event = await denied;
      expect(event.chokepoint.entry).toBe('socks5');
      expect(event.event.reason).toMatch(/keyed/);
      expect(web.connections).toBe(before);
    });
  });

  describe('with a hand-written client', () => {
    it('answers 0x02 (not allowed by ruleset) for a denied target, never dialling', async () => {
      const before = web.connections;
      const answer = await sendRaw(proxy.socksPort, Buffer.concat([
        socks.greeting(0x00),
        socks.request(CONNECT, DOMAIN, socks.domain('blocked.test'), web.port),
      ]));
      expect([...answer.subarray(0, 2)]).toEqual(NO_AUTH_CHOSEN);
      expect(answer[2]).toBe(0x05);
      expect(answer[3]).toBe(0x02);
      expect(web.connections).toBe(before);
      expect(proxy.log.named('flow.denied').at(-1)?.rule?.id).toBe('coder.deny.0');
    });

    it('answers 0x01 / 0x01 (auth failure) to a wrong password and closes', async () => {
      const answer = await sendRaw(proxy.socksPort, Buffer.concat([socks.greeting(0x02), socks.login('keyed', 'nope')]));
      expect([...answer]).toEqual([0x05, 0x02, 0x01, 0x01]);
    });

    it.each([
      ['BIND', BIND],
      ['UDP ASSOCIATE', UDP_ASSOCIATE],
    ])('answers 0x07 (command not supported) to %s', async (_name, command) => {
      const answer = await sendRaw(proxy.socksPort, Buffer.concat([
        socks.greeting(0x00),
        socks.request(command, IPV4, Buffer.from([127, 0, 0, 1]), echo.port),
      ]));
      expect([...answer.subarray(0, 2)]).toEqual(NO_AUTH_CHOSEN);
      expect(answer[3]).toBe(0x07);
    });

    it('answers 0x08 (address type not supported) to an unknown address type', async () => {
      const answer = await sendRaw(proxy.socksPort, Buffer.concat([
        socks.greeting(0x00),
        Buffer.from([0x05, CONNECT, 0x00, 0x09, 0x00, 0x00, 0x00, 0x00, 0x00, 0x50]),
      ]));
      expect([...answer.subarray(0, 2)]).toEqual(NO_AUTH_CHOSEN);
      expect(answer[3]).toBe(0x08);
    });

    it('closes the connection without a byte on a greeting that is not SOCKS5', async () => {
      const answer = await sendRaw(proxy.socksPort, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
      expect(answer.length).toBe(0);
    });

    it.each([
      ['a few bytes', Buffer.from('pipelined-bytes')],
      // More than a handshake may take: the handshake's size limit must not apply to the payload.
      ['64 KiB', Buffer.alloc(64 * 1024, 'p')],
    ])('forwards %s pipelined behind the request, and the client half-close', async (_size, payload) => {
      const socket = await connectTo(proxy.socksPort);
      const closed = nextEvent(proxy.log, (e) => e.event.action === 'flow.closed' && e.source?.port === socket.localPort);
      socket.end(Buffer.concat([
        socks.greeting(0x00),
        socks.request(CONNECT, DOMAIN, socks.domain('echo.test'), echo.port),
        payload,
      ]));
      const answer = await readToEnd(socket);
      expect([...answer.subarray(0, 2)]).toEqual(NO_AUTH_CHOSEN);
      // Reply: VER REP RSV ATYP=IPv4 BND.ADDR(4) BND.PORT(2), then the echoed bytes.
      expect([...answer.subarray(2, 6)]).toEqual([0x05, 0x00, 0x00, IPV4]);
      expect(answer.subarray(12).equals(payload)).toBe(true);
      const event = await closed;
      expect(event.source?.bytes).toBe(payload.length);
      expect(event.destination?.bytes).toBe(payload.length);
    });
  });
});
