import dgram from 'node:dgram';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { frame, readFrames } from '../../src/dns/tcp-framing.js';
import { dnsPacket, extendedErrorsOf, rcodeOf, RCODE } from '../../src/dns/wire.js';
import { iodineShortName } from '../fixtures/dns/tunnel-names.js';
import { deadUdpPort, dig, dnsUpstream, type DnsUpstream } from '../helpers/dns-upstream.js';
import { startTestProxy, type TestProxy } from '../helpers/proxy.js';
import { tempRules, type TempRules } from '../helpers/rules.js';

/**
 * The DNS listener end to end: real `dig` (UDP and TCP) against Chokepoint, whose upstream is a real
 * DNS responder on loopback that records every question, so a denied name is proven never to leave.
 */

const POLICY = `unknown_agent: deny
require_credentials: false
deny:
  - { host: "*.evil.test", reason: "evil.test is a known exfiltration domain" }
`;

const AGENT = `agent: resolver-agent
identify: { sources: ["127.0.0.1/32"] }
mode: enforce
allow:
  - { host: allowed.test, ports: [443] }
  - { host: "*.allowed.test", ports: [443] }
  - { host: ssh-only.test, ports: [22] }
  - { host: meta.test }
  - { host: mixed.test }
  - { host: alias.test }
  - { host: bad-alias.test }
  - { host: static.test }
  - { host: big.test }
  - { host: "*.tunnel.test", ports: [443] }
deny:
  - { host: blocked.allowed.test, reason: "blocked.allowed.test hosts user uploads; use the artifact store" }
`;

/** An audit-mode agent on another loopback address: answered unfiltered, reported. */
const AUDITED = `agent: audited-agent
identify: { sources: ["127.0.0.3/32"] }
mode: audit
allow:
  - { host: allowed.test, ports: [443] }
`;

const records: dnsPacket.Answer[] = [
  { name: 'allowed.test', type: 'A', ttl: 3600, data: '140.82.112.3' },
  { name: 'allowed.test', type: 'AAAA', ttl: 3600, data: '2606:50c0:8000::153' },
  { name: 'allowed.test', type: 'TXT', ttl: 60, data: ['v=spf1 -all'] },
  { name: 'allowed.test', type: 'NULL', ttl: 60, data: Buffer.from('x') },
  { name: 'www.allowed.test', type: 'A', ttl: 60, data: '140.82.112.4' },
  { name: 'blocked.allowed.test', type: 'A', ttl: 60, data: '140.82.112.5' },
  { name: 'ssh-only.test', type: 'A', ttl: 60, data: '140.82.112.6' },
  { name: 'unlisted.test', type: 'A', ttl: 60, data: '140.82.112.7' },
  { name: 'meta.test', type: 'A', ttl: 60, data: '169.254.169.254' },
  { name: 'mixed.test', type: 'A', ttl: 60, data: '140.82.112.8' },
  { name: 'mixed.test', type: 'A', ttl: 60, data: '10.1.2.3' },
  { name: 'alias.test', type: 'CNAME', ttl: 60, data: 'edge.cdn-provider.test' },
  { name: 'edge.cdn-provider.test', type: 'A', ttl: 60, data: '140.82.112.9' },
  { name: 'bad-alias.test', type: 'CNAME', ttl: 60, data: 'drop.evil.test' },
  { name: 'drop.evil.test', type: 'A', ttl: 60, data: '140.82.112.10' },
  { name: 'big.test', type: 'A', ttl: 60, data: '140.82.112.11' },
];

let rules: TempRules;
let upstream: DnsUpstream;
let proxy: TestProxy;
let dnsPort: number;

beforeAll(async () => {
  upstream = await dnsUpstream({ records, truncateOverUdp: ['big.test'] });
  rules = await tempRules(POLICY, { 'resolver-agent': AGENT, 'audited-agent': AUDITED });
  const dead = await deadUdpPort();
  proxy = await startTestProxy(rules.dir, (config) => {
    config.listen.dns = { host: '127.0.0.1', port: 0 };
    // The first upstream is dead: every forwarded query proves failover to the second.
    config.dns.upstreams = [
      { host: '127.0.0.1', port: dead },
      { host: '127.0.0.1', port: upstream.port },
    ];
    config.hosts = new Map([['static.test', ['140.82.112.12', '127.0.0.1']]]);
  });
  dnsPort = proxy.proxy.dns?.port ?? 0;
});

afterAll(async () => {
  await proxy?.stop();
  await upstream?.close();
  await rules?.remove();
});

describe('DNS listener with dig', () => {
  it('answers an allowed name from the upstream (after failing over from a dead one) and remembers it', async () => {
    const out = await dig(dnsPort, ['allowed.test', 'A']);
    expect(out).toContain('status: NOERROR');
    expect(out).toMatch(/allowed\.test\.\s+300\s+IN\s+A\s+140\.82\.112\.3/); // TTL capped at dns.max_ttl_s
    expect(proxy.proxy.names.nameFor('resolver-agent', '140.82.112.3')).toBe('allowed.test');
    const event = await proxy.log.waitFor((e) => e.event.action === 'dns.query' && e.dns?.question.name === 'allowed.test' && e.dns.question.type === 'A');
    expect(event.dns?.response_code).toBe('NOERROR');
    expect(event.dns?.resolved_ip).toEqual(['140.82.112.3']);
    expect(event.chokepoint.agent).toBe('resolver-agent');
    expect(event.network?.transport).toBe('udp');
    const { text } = await proxy.proxy.metrics.exposition();
    expect(text).toMatch(/chokepoint_dns_queries_total\{agent="resolver-agent",outcome="NOERROR"\} [1-9]/);
  });

  it('answers over TCP', async () => {
    const out = await dig(dnsPort, ['+tcp', 'allowed.test', 'AAAA']);
    expect(out).toContain('status: NOERROR');
    expect(out).toContain('2606:50c0:8000::153');
    await proxy.log.waitFor((e) => e.event.action === 'dns.query' && e.dns?.question.type === 'AAAA' && e.network?.transport === 'tcp');
  });

  it('refuses a name no rule allows with NXDOMAIN and an EDE saying what is allowed, without asking upstream', async () => {
    const out = await dig(dnsPort, ['unlisted.test', 'A']);
    expect(out).toContain('status: NXDOMAIN');
    expect(out).toMatch(/EDE: 15 \(Blocked\).*no rule lets agent resolver-agent reach unlisted\.test on any port; allowed: allowed\.test:443/);
    expect(upstream.askedFor('unlisted.test')).toBe(false);
    const event = await proxy.log.waitFor((e) => e.event.action === 'dns.query' && e.dns?.question.name === 'unlisted.test');
    expect(event.rule?.id).toBe('default-deny');
    expect(event.chokepoint.dns?.ede?.code).toBe(15);
  });

  it('refuses a name denied by the agent or globally with the rule reason', async () => {
    const agentDeny = await dig(dnsPort, ['blocked.allowed.test']);
    expect(agentDeny).toContain('status: NXDOMAIN');
    expect(agentDeny).toContain('blocked.allowed.test hosts user uploads');
    const globalDeny = await dig(dnsPort, ['+tcp', 'drop.evil.test']);
    expect(globalDeny).toContain('evil.test is a known exfiltration domain');
    expect(upstream.askedFor('blocked.allowed.test')).toBe(false);
    expect(upstream.askedFor('drop.evil.test')).toBe(false);
  });

  it('resolves a name allowed only on another port (22)', async () => {
    const out = await dig(dnsPort, ['ssh-only.test']);
    expect(out).toContain('status: NOERROR');
    expect(out).toContain('140.82.112.6');
  });

  it('withholds a metadata address: SERVFAIL with an EDE naming the range', async () => {
    const out = await dig(dnsPort, ['meta.test']);
    expect(out).toContain('status: SERVFAIL');
    expect(out).toMatch(/EDE: 15 \(Blocked\).*169\.254\.169\.254.*cloud instance metadata/);
    expect(out).not.toMatch(/IN\s+A\s+169\.254\.169\.254/);
    expect(proxy.proxy.names.nameFor('resolver-agent', '169.254.169.254')).toBeUndefined();
  });

  it('drops only the private address of a mixed answer', async () => {
    const out = await dig(dnsPort, ['mixed.test']);
    expect(out).toContain('status: NOERROR');
    expect(out).toContain('140.82.112.8');
    expect(out).not.toMatch(/IN\s+A\s+10\.1\.2\.3/);
    expect(out).toMatch(/EDE: 15 \(Blocked\).*withheld 10\.1\.2\.3/);
  });

  it('follows a CNAME chain: an unlisted CDN name passes, a denied name refuses the answer', async () => {
    const cdn = await dig(dnsPort, ['alias.test']);
    expect(cdn).toContain('status: NOERROR');
    expect(cdn).toContain('edge.cdn-provider.test');
    expect(cdn).toContain('140.82.112.9');
    expect(proxy.proxy.names.nameFor('resolver-agent', '140.82.112.9')).toBe('alias.test');
    const denied = await dig(dnsPort, ['bad-alias.test']);
    expect(denied).toContain('status: NXDOMAIN');
    expect(denied).toContain('alias of drop.evil.test');
    expect(denied).not.toContain('140.82.112.10');
  });

  it('forwards TXT, refuses NULL with EDE 21, answers static hosts with vetting', async () => {
    const txt = await dig(dnsPort, ['allowed.test', 'TXT']);
    expect(txt).toContain('v=spf1 -all');
    const nullType = await dig(dnsPort, ['allowed.test', 'NULL']);
    expect(nullType).toContain('status: REFUSED');
    expect(nullType).toContain('EDE: 21 (Not Supported)');
    expect(upstream.asked.some((entry) => entry.startsWith('allowed.test NULL'))).toBe(false);
    const fixed = await dig(dnsPort, ['static.test']);
    expect(fixed).toContain('140.82.112.12');
    expect(fixed).not.toMatch(/IN\s+A\s+127\.0\.0\.1/);
    expect(upstream.askedFor('static.test')).toBe(false);
  });

  it('asks upstream again over TCP when its UDP answer is truncated', async () => {
    const out = await dig(dnsPort, ['big.test']);
    expect(out).toContain('140.82.112.11');
    expect(upstream.asked).toContain('big.test A udp');
    expect(upstream.asked).toContain('big.test A tcp');
  });

  it('answers malformed packets with FORMERR (or drops them) and keeps serving', async () => {
    const garbage = Buffer.from('12340100000100000000000003', 'hex'); // header claims a question, none follows
    const reply = await udpExchange(dnsPort, garbage);
    expect(reply).toBeDefined();
    expect(rcodeOf(dnsPacket.decode(reply ?? Buffer.alloc(0)))).toBe(RCODE.FORMERR);
    const out = await dig(dnsPort, ['allowed.test']);
    expect(out).toContain('status: NOERROR');
  });

  it('answers pipelined TCP queries on one connection', async () => {
    const answers = await tcpPipeline(dnsPort, [query(1, 'allowed.test', 'A'), query(2, 'unlisted.test', 'A'), query(3, 'www.allowed.test', 'A')]);
    const byId = new Map(answers.map((answer) => [answer.id, answer]));
    expect(rcodeOf(byId.get(1) ?? fail())).toBe(RCODE.NOERROR);
    expect(rcodeOf(byId.get(2) ?? fail())).toBe(RCODE.NXDOMAIN);
    expect(extendedErrorsOf(byId.get(2) ?? fail())[0]?.code).toBe(15);
    expect(byId.get(3)?.answers?.[0]).toMatchObject({ type: 'A', data: '140.82.112.4' });
  });

  it('refuses every query of a quarantined agent with REFUSED + EDE 18', async () => {
    await proxy.proxy.pipeline.quarantine.add({ agent: 'resolver-agent', since: new Date().toISOString(), reason: 'test' });
    try {
      const out = await dig(dnsPort, ['allowed.test']);
      expect(out).toContain('status: REFUSED');
      expect(out).toMatch(/EDE: 18 \(Prohibited\).*quarantined/);
    } finally {
      await proxy.proxy.pipeline.quarantine.release('resolver-agent');
    }
  });
});

describe('DNS listener: identity and audit mode', () => {
  it('refuses an unidentified client with REFUSED + EDE 18, without asking upstream', async () => {
    const out = await dig(dnsPort, ['-b', '127.0.0.2', 'www.allowed.test', 'TXT']);
    expect(out).toContain('status: REFUSED');
    expect(out).toMatch(/EDE: 18 \(Prohibited\).*not identified/);
    expect(upstream.asked.some((entry) => entry.startsWith('www.allowed.test TXT'))).toBe(false);
  });

  it('answers an audit-mode agent unfiltered and reports what enforce would have refused', async () => {
    const out = await dig(dnsPort, ['-b', '127.0.0.3', 'meta.test']);
    expect(out).toContain('status: NOERROR');
    expect(out).toMatch(/IN\s+A\s+169\.254\.169\.254/);
    const event = await proxy.log.waitFor((e) => e.event.action === 'dns.query' && e.chokepoint.agent === 'audited-agent');
    expect(event.chokepoint.action).toBe('deny');
    expect(event.chokepoint.enforced).toBe(false);
  });
});

describe('DNS tunnelling through the listener', () => {
  it('detects an iodine-style burst, reports it once and refuses the rest without forwarding it', async () => {
    const names = Array.from({ length: 40 }, (_, i) => iodineShortName(i, 't.tunnel.test'));
    const rcodes: number[] = [];
    for (const [i, name] of names.entries()) {
      const reply = await udpExchange(dnsPort, query(100 + i, name, 'TXT'));
      rcodes.push(rcodeOf(dnsPacket.decode(reply ?? fail())));
    }
    const detection = await proxy.log.waitFor((e) => e.event.action === 'detection.dns_tunnel');
    expect(detection.chokepoint.detection?.action).toBe('deny');
    expect(detection.chokepoint.detection?.evidence).toContain('tunnel.test');
    expect(proxy.log.named('detection.dns_tunnel')).toHaveLength(1);
    expect(rcodes.at(-1)).toBe(RCODE.REFUSED);
    const forwarded = upstream.asked.filter((entry) => entry.includes('.t.tunnel.test')).length;
    expect(forwarded).toBeLessThan(names.length);
    expect(rcodes.filter((rcode) => rcode === RCODE.REFUSED)).toHaveLength(names.length - forwarded);
  });
});

function fail(): never {
  throw new Error('missing answer');
}

function query(id: number, name: string, type: dnsPacket.RecordType): Buffer {
  return dnsPacket.encode({
    type: 'query',
    id,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ name, type, class: 'IN' }],
    additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 1232, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] }],
  });
}

function udpExchange(port: number, message: Buffer): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket('udp4');
    const timer = setTimeout(() => {
      socket.close();
      reject(new Error('no UDP answer'));
    }, 10_000);
    socket.on('message', (bytes) => {
      clearTimeout(timer);
      socket.close();
      resolve(bytes);
    });
    socket.send(message, port, '127.0.0.1');
  });
}

function tcpPipeline(port: number, messages: Buffer[]): Promise<dnsPacket.DecodedPacket[]> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const answers: dnsPacket.DecodedPacket[] = [];
    socket.on('error', reject);
    socket.on('connect', () => socket.write(Buffer.concat(messages.map(frame))));
    readFrames(socket, 65535, (bytes) => {
      answers.push(dnsPacket.decode(Buffer.from(bytes)));
      if (answers.length === messages.length) {
        socket.destroy();
        resolve(answers);
      }
    });
  });
}

describe('DNS over TCP: idle connections', () => {
  it('closes a TCP connection that sends nothing, after timeouts.header_ms', async () => {
    const idleRules = await tempRules(POLICY, { 'resolver-agent': AGENT });
    const idleProxy = await startTestProxy(idleRules.dir, (config) => {
      config.listen.dns = { host: '127.0.0.1', port: 0 };
      config.dns.upstreams = [{ host: '127.0.0.1', port: upstream.port }];
      config.timeouts.headerMs = 200;
    });
    try {
      const socket = net.connect(idleProxy.proxy.dns?.port ?? 0, '127.0.0.1');
      const closedByServer = await new Promise<boolean>((resolve) => {
        socket.on('error', () => resolve(false));
        socket.on('end', () => resolve(true));
      });
      expect(closedByServer).toBe(true);
      socket.destroy();
    } finally {
      await idleProxy.stop();
      await idleRules.remove();
    }
  });
});

describe('DNS listener: spellings and record types that must not get around the rules', () => {
  it('refuses a denied name however it is spelled: case, trailing dot, full-width Unicode; never asks upstream', async () => {
    for (const spelling of ['BLOCKED.Allowed.TEST', 'blocked.allowed.test.', 'Blocked.ALLOWED.test.']) {
      const out = await dig(dnsPort, [spelling, 'A']);
      expect(out).toContain('status: NXDOMAIN');
      expect(out).toContain('blocked.allowed.test hosts user uploads');
    }
    // U+FF42… full-width letters map to "blocked" (UTS #46), sent as raw UTF-8 labels.
    const fullWidth = await udpExchange(dnsPort, query(4242, '\uff42\uff4c\uff4f\uff43\uff4b\uff45\uff44.allowed.test', 'A'));
    expect(rcodeOf(dnsPacket.decode(fullWidth ?? fail()))).toBe(RCODE.NXDOMAIN);
    // An escaped dot inside a label is not the name it looks like once joined: refused, not forwarded.
    const escaped = await dig(dnsPort, ['blocked\\.allowed.test', 'A']);
    expect(escaped).toContain('status: FORMERR');
    expect(upstream.asked.filter((entry) => entry.startsWith('blocked.allowed.test '))).toEqual([]);
  });

  it('answers HTTPS / SVCB empty (their address hints would bypass vetting) and refuses ANY, without asking upstream', async () => {
    for (const type of ['HTTPS', 'SVCB']) {
      const out = await dig(dnsPort, ['allowed.test', type]);
      expect(out).toContain('status: NOERROR');
      expect(out).toContain('ANSWER: 0');
      expect(out).toContain('EDE: 17 (Filtered)');
    }
    const any = await dig(dnsPort, ['allowed.test', 'ANY']);
    expect(any).toContain('status: REFUSED');
    expect(upstream.asked.filter((entry) => /^allowed\.test (UNKNOWN_6[45]|ANY) /.test(entry))).toEqual([]);
  });
});
