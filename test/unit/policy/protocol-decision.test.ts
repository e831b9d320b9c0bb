import { describe, expect, it } from 'vitest';
import type { FlowClassification } from '../../../src/inspect/flow-classifier.js';
import type { Detection, HttpFacts, ProtocolName, TlsFacts } from '../../../src/inspect/types.js';
import {
  allowedProtocols,
  judgeDetections,
  judgeProtocol,
  judgeTarget,
  strongestAction,
  type ProtocolContext,
  type ProtocolFinding,
} from '../../../src/policy/protocol-decision.js';
import {
  type DetectionAction,
  type DetectionKind,
  type IntelLists,
  type Rule,
  type RuleSet,
} from '../../../src/policy/types.js';
import { rule, ruleSet } from './policy-fixtures.js';

// ---- builders ------------------------------------------------------------------------------------

function tlsFacts(sni: string | undefined): TlsFacts {
  return { ...(sni === undefined ? {} : { sni }), alpn: ['h2'], versions: ['1.3'], ja4: 't13d0102h2_aaaaaaaaaaaa_bbbbbbbbbbbb', ja3: '771,4865,0,,', ja3Hash: '0'.repeat(32), ech: false };
}

function httpFacts(host: string | undefined): HttpFacts {
  return { method: 'GET', target: '/', version: '1.1', ...(host === undefined ? {} : { host }), headers: host === undefined ? {} : { host } };
}

function classified(protocol: ProtocolName, facts: Partial<FlowClassification> = {}): FlowClassification {
  return { protocol, decided: true, detections: [], ...facts };
}

interface Judged {
  host?: string;
  port: number;
  rule?: Rule;
  classification: FlowClassification;
  ruleSet?: RuleSet;
}

function judge({ host, port, rule: allowing, classification, ruleSet: set = ruleSet([]) }: Judged): ProtocolFinding[] {
  const context: ProtocolContext = { ruleSet: set, port, classification, ...(host === undefined ? {} : { host }), ...(allowing ? { rule: allowing } : {}) };
  return judgeProtocol(context);
}

const kinds = (findings: readonly ProtocolFinding[]): DetectionKind[] => findings.map((finding) => finding.kind);

function detection(type: Detection['type'], confidence: Detection['confidence'] = 'high'): Detection {
  return { type, confidence, evidence: `${type} seen`, direction: 'up', atMs: 12 };
}

const withActions = (actions: Partial<Record<DetectionKind, DetectionAction>>): RuleSet => ({ ...ruleSet([]), detectionActions: actions });

// ---- allowedProtocols ------------------------------------------------------------------------------

describe('allowedProtocols', () => {
  it.each([
    [443, ['tls']],
    [80, ['http', 'websocket']],
    [22, ['ssh']],
  ])('defaults port %i to its usual protocol', (port, expected) => {
    expect(allowedProtocols(undefined, port)).toEqual(new Set(expected));
    expect(allowedProtocols(rule('allow', 'example.com', String(port)), port)).toEqual(new Set(expected));
  });

  it('allows anything but SSH on other ports', () => {
    expect(allowedProtocols(undefined, 8443)).toBe('any-but-ssh');
    expect(allowedProtocols(undefined, 3333)).toBe('any-but-ssh');
  });

  it('takes the rule’s protocols over the port default', () => {
    expect(allowedProtocols(rule('allow', 'git.example', '443', { protocols: ['ssh', 'tls'] }), 443)).toEqual(new Set(['ssh', 'tls']));
    expect(allowedProtocols(rule('allow', 'git.example', '2222', { protocols: ['ssh'] }), 2222)).toEqual(new Set(['ssh']));
  });

  it('treats an empty protocol list as no list', () => {
    expect(allowedProtocols(rule('allow', 'example.com', '443', { protocols: [] }), 443)).toEqual(new Set(['tls']));
  });
});

// ---- judgeProtocol: protocol against rule ---------------------------------------------------------

describe('judgeProtocol: which protocols are allowed', () => {
  const ssh = classified('ssh', { ssh: { clientBanner: 'SSH-2.0-OpenSSH_9.6' } });

  it('refuses SSH where no rule names it, with the banner as evidence and the fix as reason', () => {
    for (const port of [443, 2222, 8080]) {
      const findings = judge({ host: 'git.example', port, classification: ssh });
      expect(findings).toEqual([
        expect.objectContaining({
          kind: 'ssh_not_allowed',
          action: 'deny',
          confidence: 'high',
          evidence: `SSH (SSH-2.0-OpenSSH_9.6) to git.example:${port}`,
          reason: expect.stringContaining('protocols: [ssh]'),
        }),
      ]);
    }
  });

  it('says when the SSH banner was not seen, and names an address target generically', () => {
    const [finding] = judge({ port: 443, classification: classified('ssh') });
    expect(finding?.evidence).toBe('SSH (client banner not seen) to this address:443');
  });

  it('allows SSH on port 22 and wherever a rule lists ssh', () => {
    expect(judge({ host: 'git.example', port: 22, classification: ssh })).toEqual([]);
    expect(judge({ host: 'git.example', port: 443, rule: rule('allow', 'git.example', '443', { protocols: ['tls', 'ssh'] }), classification: ssh })).toEqual([]);
    expect(judge({ host: 'git.example', port: 2222, rule: rule('allow', 'git.example', '2222', { protocols: ['ssh'] }), classification: ssh })).toEqual([]);
  });

  it('refuses SSH on port 22 when the rule lists other protocols only', () => {
    const sftpLess = rule('allow', 'git.example', '22', { protocols: ['tls'] });
    expect(kinds(judge({ host: 'git.example', port: 22, rule: sftpLess, classification: ssh }))).toEqual(['ssh_not_allowed']);
  });

  it.each([
    ['plain HTTP on 443', 'http', 443],
    ['TLS on 80', 'tls', 80],
    ['HTTP on 22', 'http', 22],
    ['an unnamed protocol on 443', 'unknown', 443],
    ['HTTP/2 prior knowledge on 80', 'http2', 80],
    ['a nested SOCKS handshake on 443', 'socks', 443],
  ] satisfies Array<[string, ProtocolName, number]>)('refuses %s', (_name, protocol, port) => {
    const findings = judge({ host: 'example.com', port, classification: classified(protocol) });
    expect(findings).toEqual([expect.objectContaining({ kind: 'protocol_not_allowed', action: 'deny', confidence: 'high' })]);
    expect(findings[0]?.evidence).toContain(`${protocol} spoken to example.com:${port}`);
    expect(findings[0]?.reason).toContain(`but this connection speaks ${protocol}`);
  });

  it.each([
    ['HTTP on 8080', 'http', 8080],
    ['Stratum on 3333 (left to the detections)', 'stratum', 3333],
    ['an unnamed protocol on 5432', 'unknown', 5432],
    ['WebSocket on 80', 'websocket', 80],
  ] satisfies Array<[string, ProtocolName, number]>)('allows %s by default', (_name, protocol, port) => {
    expect(judge({ host: 'example.com', port, classification: classified(protocol, protocol === 'websocket' ? { http: httpFacts('example.com'), websocket: true } : {}) })).toEqual([]);
  });

  it('allows WebSocket wherever a rule allows HTTP, but not the reverse', () => {
    const httpOnly = rule('allow', 'example.com', '8080', { protocols: ['http'] });
    expect(judge({ host: 'example.com', port: 8080, rule: httpOnly, classification: classified('websocket') })).toEqual([]);
    const tlsOnly = rule('allow', 'example.com', '8080', { protocols: ['tls'] });
    expect(kinds(judge({ host: 'example.com', port: 8080, rule: tlsOnly, classification: classified('websocket') }))).toEqual(['protocol_not_allowed']);
    const websocketOnly = rule('allow', 'example.com', '8080', { protocols: ['websocket'] });
    expect(kinds(judge({ host: 'example.com', port: 8080, rule: websocketOnly, classification: classified('http') }))).toEqual(['protocol_not_allowed']);
  });

  it('does not let a websocket-only rule admit plain HTTP, even a request asking for the upgrade', () => {
    const websocketOnly = rule('allow', 'example.com', '8080', { protocols: ['websocket'] });
    const upgrade = classified('http', { http: { ...httpFacts('example.com'), upgrade: 'websocket' } });
    expect(kinds(judge({ host: 'example.com', port: 8080, rule: websocketOnly, classification: upgrade }))).toEqual(['protocol_not_allowed']);
  });


  it('lists the allowed protocols in the reason', () => {
    const [finding] = judge({ host: 'example.com', port: 80, classification: classified('tls', { tls: tlsFacts('example.com') }) });
    expect(finding?.reason).toBe('example.com:80 is allowed only for http, websocket, but this connection speaks tls');
  });
});

// ---- judgeProtocol: SNI and Host against the requested host ----------------------------------------

describe('judgeProtocol: TLS server name', () => {
  const tlsTo = (host: string | undefined, sni: string | undefined): ProtocolFinding[] =>
    judge({ ...(host === undefined ? {} : { host }), port: 443, classification: classified('tls', { tls: tlsFacts(sni) }) });

  it.each([
    ['the same name', 'api.example.com', 'api.example.com'],
    ['upper case', 'api.example.com', 'API.Example.COM'],
    ['a trailing dot', 'api.example.com', 'api.example.com.'],
    ['the Unicode spelling of an IDN', 'xn--bcher-kva.example', 'bücher.example'],
    ['the punycode spelling of an IDN', 'xn--bcher-kva.example', 'xn--bcher-kva.example'],
  ])('accepts %s', (_name, host, sni) => {
    expect(tlsTo(host, sni)).toEqual([]);
  });

  it.each([
    ['another name (domain fronting)', 'allowed.example.com', 'blocked.example.net'],
    ['a subdomain of the requested host', 'example.com', 'www.example.com'],
    ['the parent of the requested host', 'www.example.com', 'example.com'],
    ['an address', 'example.com', '93.184.216.34'],
    ['a name that does not parse', 'example.com', 'exa mple.com'],
  ])('flags %s as sni_mismatch', (_name, host, sni) => {
    const findings = tlsTo(host, sni);
    expect(findings).toEqual([expect.objectContaining({ kind: 'sni_mismatch', action: 'deny', confidence: 'high' })]);
    expect(findings[0]?.evidence).toBe(`tunnel to ${host} but TLS SNI is ${sni} (domain fronting)`);
    expect(findings[0]?.reason).toContain(`connect to ${sni} directly`);
  });

  it('flags a hello without SNI to a named host, but not to an address', () => {
    const findings = tlsTo('api.example.com', undefined);
    expect(findings).toEqual([expect.objectContaining({ kind: 'missing_sni', action: 'deny', confidence: 'medium' })]);
    expect(findings[0]?.evidence).toContain('JA4 t13d0102h2_aaaaaaaaaaaa_bbbbbbbbbbbb');
    expect(tlsTo(undefined, undefined)).toEqual([]);
    expect(tlsTo(undefined, 'anything.example')).toEqual([]);
  });

  it('reports both a protocol and an SNI problem when both hold', () => {
    const findings = judge({ host: 'example.com', port: 80, classification: classified('tls', { tls: tlsFacts('other.example') }) });
    expect(kinds(findings)).toEqual(['protocol_not_allowed', 'sni_mismatch']);
  });
});

describe('judgeProtocol: HTTP Host', () => {
  const httpTo = (host: string | undefined, hostHeader: string | undefined, protocol: ProtocolName = 'http'): ProtocolFinding[] =>
    judge({ ...(host === undefined ? {} : { host }), port: 8080, classification: classified(protocol, { http: httpFacts(hostHeader) }) });

  it.each([
    ['the same name', 'example.com'],
    ['the name and a port', 'example.com:8080'],
    ['upper case and a trailing dot', 'Example.COM.'],
    ['the name and an empty port', 'example.com:'],
  ])('accepts %s', (_name, hostHeader) => {
    expect(httpTo('example.com', hostHeader)).toEqual([]);
  });

  it('accepts the Unicode spelling of an IDN', () => {
    expect(httpTo('xn--bcher-kva.example', 'bücher.example:80')).toEqual([]);
  });

  it.each([
    ['another name', 'internal.corp.example', 'internal.corp.example'],
    ['another name with a port', 'internal.corp.example:8080', 'internal.corp.example'],
    ['a bracketed IPv6 address with a port', '[2001:db8::1]:8080', '2001:db8::1'],
    ['a bracketed IPv6 address', '[::1]', '::1'],
    ['an IPv4 address', '127.0.0.1:8080', '127.0.0.1'],
    ['two ports', 'example.com:80:80', 'example.com:80:80'],
    ['an empty Host', '', ''],
  ])('flags %s as host_mismatch', (_name, hostHeader, named) => {
    const findings = httpTo('example.com', hostHeader);
    expect(findings).toEqual([expect.objectContaining({ kind: 'host_mismatch', action: 'deny', confidence: 'high' })]);
    expect(findings[0]?.evidence).toBe(`tunnel to example.com but HTTP Host is ${hostHeader}`);
    expect(findings[0]?.reason).toBe(`the HTTP Host ${named} differs from the requested host example.com`);
  });

  it('checks WebSocket flows too', () => {
    expect(kinds(httpTo('example.com', 'evil.example', 'websocket'))).toEqual(['host_mismatch']);
  });

  it('has nothing to compare for an address target or a request without Host', () => {
    expect(httpTo(undefined, 'example.com')).toEqual([]);
    expect(httpTo('example.com', undefined)).toEqual([]);
  });

  it('keeps a long Host out of the evidence', () => {
    const long = `${'a'.repeat(300)}.example`;
    const [finding] = httpTo('example.com', long);
    expect(finding?.evidence.length).toBeLessThan(260);
    expect(finding?.reason.length).toBeLessThan(300);
  });
});

// ---- detections, intel, actions -------------------------------------------------------------------

describe('judgeDetections', () => {
  it.each([
    ['stratum', 'stratum', 'quarantine', /mining/],
    ['reverse_shell', 'reverse_shell', 'quarantine', /remote shell/],
    ['nested_proxy', 'nested_proxy', 'deny', /proxy handshake inside the tunnel/],
    ['tunnel_tool', 'tunnel_tool', 'deny', /tunnelling tools/],
    ['reverse_tunnel', 'reverse_tunnel', 'deny', /reverse tunnels/],
    ['websocket_payload', 'websocket_payload', 'alert', /websocket_payload/],
    ['protocol_mismatch', 'protocol_not_allowed', 'deny', /stopped speaking the protocol/],
    ['host_mismatch', 'host_mismatch', 'deny', /host the tunnel was opened to/],
  ] satisfies Array<[Detection['type'], DetectionKind, DetectionAction, RegExp]>)('maps %s to %s (%s by default)', (type, kind, action, reason) => {
    const seen = detection(type, 'medium');
    const [finding] = judgeDetections(ruleSet([]), [seen]);
    expect(finding).toMatchObject({ kind, action, confidence: 'medium', evidence: `${type} seen`, detection: seen });
    expect(finding?.reason).toMatch(reason);
  });

  it('keeps one finding per detection, in order', () => {
    expect(kinds(judgeDetections(ruleSet([]), [detection('nested_proxy'), detection('stratum'), detection('stratum')]))).toEqual(['nested_proxy', 'stratum', 'stratum']);
    expect(judgeDetections(ruleSet([]), [])).toEqual([]);
  });
});

describe('judgeTarget', () => {
  const source = (file: string, line: number): { file: string; line: number } => ({ file: `/etc/chokepoint/rules/intel/${file}`, line });
  const intel: IntelLists = {
    domains: new Map([
      ['nanopool.org', { kind: 'mining_pool', source: source('mining-pools.txt', 7) }],
      ['ngrok-free.app', { kind: 'tunnel_tool', source: source('tunnel-services.txt', 9) }],
    ]),
    ports: new Map([[3333, { kind: 'mining_port', source: source('mining-ports.txt', 5) }]]),
  };
  const withIntel = (set: RuleSet = ruleSet([])): RuleSet => ({ ...set, intel });

  it('finds nothing without intel lists', () => {
    expect(judgeTarget(ruleSet([]), 'nanopool.org', 3333)).toEqual([]);
  });

  it('flags a listed name and its subdomains, citing the list and line', () => {
    expect(judgeTarget(withIntel(), 'nanopool.org', 443)).toEqual([
      expect.objectContaining({ kind: 'mining_pool', action: 'quarantine', confidence: 'high', evidence: 'nanopool.org is listed as nanopool.org in intel/mining-pools.txt:7', reason: expect.stringMatching(/mining/) }),
    ]);
    expect(judgeTarget(withIntel(), 'xmr-eu1.nanopool.org', 443)).toEqual([
      expect.objectContaining({ kind: 'mining_pool', evidence: 'xmr-eu1.nanopool.org is listed as nanopool.org in intel/mining-pools.txt:7' }),
    ]);
    expect(kinds(judgeTarget(withIntel(), 'abc123.ngrok-free.app', 443))).toEqual(['tunnel_tool']);
    expect(judgeTarget(withIntel(), 'abc123.ngrok-free.app', 443)[0]?.action).toBe('deny');
  });

  it('does not flag names that only end with the same letters, or contain the name elsewhere', () => {
    expect(judgeTarget(withIntel(), 'evilnanopool.org', 443)).toEqual([]);
    expect(judgeTarget(withIntel(), 'nanopool.org.mirror.example', 443)).toEqual([]);
    expect(judgeTarget(withIntel(), 'org', 443)).toEqual([]);
  });

  it('flags a listed port at low confidence, for names and addresses alike', () => {
    expect(judgeTarget(withIntel(), undefined, 3333)).toEqual([
      expect.objectContaining({ kind: 'mining_port', action: 'alert', confidence: 'low', evidence: 'port 3333 is a common mining-pool port (intel/mining-ports.txt:5)' }),
    ]);
    expect(kinds(judgeTarget(withIntel(), 'pool.nanopool.org', 3333))).toEqual(['mining_pool', 'mining_port']);
    expect(judgeTarget(withIntel(), 'example.com', 4444)).toEqual([]);
  });

  it('flags a listed TLS server name when the target was an address or another name (cloudflared dials its edge by IP)', () => {
    const hello = classified('tls', { tls: tlsFacts('h2.ngrok-free.app') });
    expect(judge({ port: 7844, rule: rule('allow', '198.41.192.0/24', '7844', { protocols: ['tls'] }), ruleSet: withIntel(), classification: hello })).toEqual([
      expect.objectContaining({ kind: 'tunnel_tool', action: 'deny', evidence: 'TLS server name h2.ngrok-free.app is listed as ngrok-free.app in intel/tunnel-services.txt:9' }),
    ]);
    // Asked for by name: judgeTarget already reported it, so the hello adds nothing.
    expect(kinds(judge({ host: 'h2.ngrok-free.app', port: 443, ruleSet: withIntel(), classification: hello }))).toEqual([]);
  });

  it('follows the action overrides', () => {
    const set = withIntel(withActions({ mining_port: 'deny', mining_pool: 'alert' }));
    expect(judgeTarget(set, 'nanopool.org', 3333).map((finding) => finding.action)).toEqual(['alert', 'deny']);
  });
});

describe('actions', () => {
  it('follow ruleSet.detectionActions for every kind of finding, and the defaults where it is silent', () => {
    const set = withActions({ sni_mismatch: 'alert', stratum: 'deny', ssh_not_allowed: 'quarantine' });
    expect(judge({ host: 'a.example', port: 443, ruleSet: set, classification: classified('tls', { tls: tlsFacts('b.example') }) })[0]?.action).toBe('alert');
    expect(judge({ host: 'a.example', port: 443, ruleSet: set, classification: classified('ssh') })[0]?.action).toBe('quarantine');
    expect(judge({ host: 'a.example', port: 443, ruleSet: set, classification: classified('http') })[0]?.action).toBe('deny');
    expect(judgeDetections(set, [detection('stratum')])[0]?.action).toBe('deny');
    expect(judgeDetections(set, [detection('reverse_shell')])[0]?.action).toBe('quarantine');
  });

  it('take an action per confidence where the policy gives a map, and the default for a level it leaves out', () => {
    const set: RuleSet = { ...ruleSet([]), detectionActions: { reverse_tunnel: { high: 'quarantine', medium: 'alert' } } };
    expect(judgeDetections(set, [detection('reverse_tunnel', 'high'), detection('reverse_tunnel', 'medium'), detection('reverse_tunnel', 'low')]).map((f) => f.action))
      .toEqual(['quarantine', 'alert', 'deny']);
  });

  it('use the defaults when the rule set has no overrides at all', () => {
    const bare: RuleSet = { globalDeny: [], unknownAgent: 'deny', requireCredentials: false, agents: [] };
    expect(judgeDetections(bare, [detection('websocket_payload')])[0]?.action).toBe('alert');
    expect(judge({ host: 'a.example', port: 443, ruleSet: bare, classification: classified('tls', { tls: tlsFacts(undefined) }) })[0]?.action).toBe('deny');
  });

});

describe('strongestAction', () => {
  const withAction = (action: DetectionAction): ProtocolFinding => ({ kind: 'stratum', action, confidence: 'high', evidence: '', reason: '' });

  it.each([
    [[], undefined],
    [['alert'], 'alert'],
    [['alert', 'deny'], 'deny'],
    [['deny', 'alert'], 'deny'],
    [['alert', 'quarantine', 'deny'], 'quarantine'],
    [['quarantine'], 'quarantine'],
  ] satisfies Array<[DetectionAction[], DetectionAction | undefined]>)('of %j is %s', (actions, expected) => {
    expect(strongestAction(actions.map(withAction))).toBe(expected);
  });
});
