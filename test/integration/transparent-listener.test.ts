/**
 * The transparent listener's choice of name, on loopback. Redirection needs a network namespace (see
 * test/e2e/transparent-netns.test.ts, which proves the kernel side); here the original destination is
 * handed to the listener directly, so the part that is about names can be driven in-process: a name the
 * agent's own DNS answers gave (NameMemory) is judged by name and rules, an SNI that the address does
 * not belong to is refused, and a bare address is judged as an address.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTransparentServer } from '../../src/listeners/transparent.js';
import { nextEvent } from '../helpers/event-waits.js';
import { startTestProxy, type TestProxy } from '../helpers/proxy.js';
import { DENY_UNKNOWN_POLICY, tempRules, type TempRules } from '../helpers/rules.js';
import { echoUpstream, type Upstream } from '../helpers/upstreams.js';

describe('transparent listener: which name a redirected flow is judged by', () => {
  let rules: TempRules;
  let proxy: TestProxy;
  let echo: Upstream;
  let listener: net.Server;
  let listenerPort: number;

  beforeAll(async () => {
    echo = await echoUpstream();
    rules = await tempRules(DENY_UNKNOWN_POLICY, {
      coder: `agent: coder
identify: { sources: ["127.0.0.1/32"] }
allow:
  - { cidr: 127.0.0.1/32, ports: [${echo.port}] }
deny:
  - { host: forbidden.test, reason: "not this one" }
`,
    });
    proxy = await startTestProxy(rules.dir);
    // Every connection "was going" to the echo server: what the kernel would say after a REDIRECT.
    listener = createTransparentServer(proxy.proxy.pipeline, {
      names: proxy.proxy.names,
      peekMs: 300,
      events: proxy.proxy.events,
      lookup: () => ({ ok: true, address: '127.0.0.1', port: echo.port }),
    });
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
    listenerPort = (listener.address() as net.AddressInfo).port;
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => listener.close(() => resolve()));
    await proxy?.stop();
    await echo?.close();
    await rules?.remove();
  });

  /** Sends `payload`, returns what came back before the connection closed (or 2 s passed). */
  function exchange(payload: string): Promise<string> {
    return new Promise((resolve) => {
      const socket = net.connect(listenerPort, '127.0.0.1', () => socket.write(payload));
      let received = '';
      socket.setEncoding('utf8').on('data', (text: string) => {
        received += text;
        if (received.length >= payload.length) socket.end();
      });
      socket.on('error', () => undefined);
      socket.on('close', () => resolve(received));
      setTimeout(() => socket.destroy(), 2_000).unref();
    });
  }

  it('judges a bare address by the address rules, reporting no name', async () => {
    const allowed = nextEvent(proxy.log, (e) => e.event.action === 'flow.allowed' && e.chokepoint.entry === 'transparent');
    expect(await exchange('hello\n')).toBe('hello\n');
    const event = await allowed;
    expect(event.destination).toEqual({ ip: '127.0.0.1', port: echo.port });
    expect(event.rule?.id).toBe('coder.allow.0');
  });

  it('refuses a Host header naming a host the address does not belong to', async () => {
    const before = echo.connections;
    const denied = nextEvent(proxy.log, (e) => e.event.action === 'flow.denied' && e.chokepoint.entry === 'transparent');
    const answer = await exchange('GET / HTTP/1.1\r\nHost: elsewhere.test\r\n\r\n');
    const event = await denied;
    expect(event.destination).toMatchObject({ domain: 'elsewhere.test', ip: '127.0.0.1', port: echo.port });
    expect(event.rule?.id).toBe('transparent.address-mismatch');
    expect(answer).toMatch(/^HTTP\/1\.1 403 /);
    expect(echo.connections).toBe(before);
  });

  it('judges by the name the agent resolved (NameMemory): a denied name is refused although its address is allowed', async () => {
    // Another agent's answers lend no name: this one is not coder's, and changes nothing.
    proxy.proxy.names.remember('someone-else', 'forbidden.test', ['127.0.0.1'], 60);
    const stillAllowed = nextEvent(proxy.log, (e) => e.event.action === 'flow.allowed' && e.chokepoint.entry === 'transparent');
    expect(await exchange('hello\n')).toBe('hello\n');
    expect((await stillAllowed).destination?.domain).toBeUndefined();

    proxy.proxy.names.remember('coder', 'forbidden.test', ['127.0.0.1'], 60);
    const before = echo.connections;
    const denied = nextEvent(proxy.log, (e) => e.event.action === 'flow.denied' && e.chokepoint.entry === 'transparent');
    expect(await exchange('hello\n')).toBe('');
    const event = await denied;
    expect(event.destination).toMatchObject({ domain: 'forbidden.test', ip: '127.0.0.1', port: echo.port });
    expect(event.rule?.id).toBe('coder.deny.0');
    expect(echo.connections).toBe(before);
  });
});
