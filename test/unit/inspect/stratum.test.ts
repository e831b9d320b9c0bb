import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_HEAD_BYTES } from '../../../src/inspect/http/head.js';
import { HttpMiningClassifier, MAX_BODY_INSPECTION_BYTES } from '../../../src/inspect/stratum/http-mining.js';
import { JsonMessageFramer, MAX_JSON_MESSAGE_BYTES, type FramerEvent } from '../../../src/inspect/stratum/json-lines.js';
import { inspectMessage, StratumClassifier } from '../../../src/inspect/stratum/stratum-classifier.js';
import type { Confidence, Direction, StratumFacts } from '../../../src/inspect/types.js';
import { CHUNKINGS, feed, lastDetection, type Step } from '../../fixtures/stratum/harness.js';
import * as m from '../../fixtures/stratum/messages.js';

const WALLET_PREFIX = `${m.MONERO_WALLET.slice(0, 6)}…`;

interface Expected {
  dialect: StratumFacts['dialect'];
  confidence: Confidence;
  facts?: Partial<StratumFacts>;
}

/** Runs `steps` in every chunking and checks the same outcome each time. */
function expectMining(make: () => StratumClassifier | HttpMiningClassifier, steps: readonly Step[], expected: Expected): void {
  for (const chunking of CHUNKINGS) {
    const classifier = make();
    const outcome = feed(classifier, steps, chunking);
    const detection = lastDetection(outcome);
    expect(detection, chunking).toBeDefined();
    expect(detection?.type).toBe('stratum');
    expect(detection?.confidence, chunking).toBe(expected.confidence);
    expect(classifier.facts()?.dialect, chunking).toBe(expected.dialect);
    expect(classifier.facts(), chunking).toMatchObject(expected.facts ?? {});
    expect(outcome.state).toBe('identified');
  }
}

function expectNoMining(make: () => StratumClassifier | HttpMiningClassifier, steps: readonly Step[], state: 'undecided' | 'identified' | 'rejected'): void {
  for (const chunking of CHUNKINGS) {
    const classifier = make();
    const outcome = feed(classifier, steps, chunking);
    expect(outcome.detections, chunking).toEqual([]);
    expect(classifier.facts()).toBeUndefined();
    expect(outcome.state, chunking).toBe(state);
  }
}

const stratum = (): StratumClassifier => new StratumClassifier();
const http = (): HttpMiningClassifier => new HttpMiningClassifier();
const up = (data: string | Buffer): Step => ['up', data];
const down = (data: string | Buffer): Step => ['down', data];

describe('JsonMessageFramer', () => {
  const messages = (events: FramerEvent[]): unknown[] => events.flatMap((e) => (e.kind === 'message' ? [e.value] : []));

  it('splits on the end of a top-level object without a newline, on LF and on CRLF', () => {
    const framer = new JsonMessageFramer();
    expect(messages(framer.push(Buffer.from('{"a":1}{"b":"}"}\r\n[{"c":2},{"d":3}]\n  {"e":4}\n')))).toEqual([{ a: 1 }, { b: '}' }, { c: 2 }, { d: 3 }, { e: 4 }]);
  });

  it('skips a BOM and leading whitespace, decodes unicode escapes and escaped quotes', () => {
    const framer = new JsonMessageFramer();
    expect(messages(framer.push(Buffer.from('\uFEFF \t\r\n{"m":"\\u006dining\\"x\\\\"}\n')))).toEqual([{ m: 'mining"x\\' }]);
  });

  it('reports a non-JSON line at its first byte and resynchronises after it', () => {
    const framer = new JsonMessageFramer();
    expect(framer.push(Buffer.from('S'))).toEqual([{ kind: 'not-json' }]);
    expect(messages(framer.push(Buffer.from('SH-2.0 {"a":1}\n{"b":2}\n')))).toEqual([{ b: 2 }]);
  });

  it('reports a LF inside an unclosed object as invalid and carries on', () => {
    const framer = new JsonMessageFramer();
    expect(framer.push(Buffer.from('{"a":\n{"b":2}'))).toEqual([{ kind: 'invalid' }, { kind: 'message', value: { b: 2 } }]);
  });

  it('caps a message at 16 KiB, reports overflow once and resumes at the next LF', () => {
    const framer = new JsonMessageFramer();
    const events: FramerEvent[] = [];
    events.push(...framer.push(Buffer.from('{"a":"')));
    for (let i = 0; i < 40; i++) {
      events.push(...framer.push(Buffer.alloc(1024, 0x78)));
      expect(framer.bufferedBytes).toBeLessThanOrEqual(MAX_JSON_MESSAGE_BYTES);
    }
    events.push(...framer.push(Buffer.from('"}\n{"ok":true}\n')));
    expect(events).toEqual([{ kind: 'overflow' }, { kind: 'message', value: { ok: true } }]);
    expect(framer.bufferedBytes).toBe(0);
  });

  it('frames identically whatever the chunking (property)', () => {
    const alphabet = ['{', '}', '[', ']', '"', '\\', '\n', '\r', ' ', ':', ',', 'a', '1', '\uFEFF', 'é'];
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...alphabet), { maxLength: 300 }), fc.array(fc.nat(), { maxLength: 20 }), (symbols, cuts) => {
        const bytes = Buffer.from(symbols.join(''), 'utf8');
        const whole = new JsonMessageFramer().push(bytes);
        const framer = new JsonMessageFramer();
        const points = [...new Set(cuts.map((cut) => cut % (bytes.length + 1)))].sort((a, b) => a - b);
        const pieces: FramerEvent[] = [];
        let from = 0;
        for (const point of [...points, bytes.length]) {
          pieces.push(...framer.push(bytes.subarray(from, point)));
          from = point;
        }
        expect(pieces).toEqual(whole);
      }),
    );
  });
});

describe('StratumClassifier: every dialect, in every chunking', () => {
  const cases: Array<[string, Step[], Expected]> = [
    ['XMRig login (compact)', [up(m.XMRIG_LOGIN)], { dialect: 'cryptonote', confidence: 'high', facts: { method: 'login', agent: m.XMRIG_AGENT, login: WALLET_PREFIX, algorithm: 'rx/0' } }],
    ['XMRig login then pool result', [up(m.XMRIG_LOGIN), down(m.XMRIG_LOGIN_RESULT), up(m.XMRIG_SUBMIT), up(m.XMRIG_KEEPALIVE)], { dialect: 'cryptonote', confidence: 'high', facts: { agent: m.XMRIG_AGENT } }],
    ['xmr-stak method-first', [up(m.XMR_STAK_LOGIN)], { dialect: 'cryptonote', confidence: 'high', facts: { agent: 'xmr-stak-cpu/1.3.0-1.5.0', login: WALLET_PREFIX } }],
    ['generic xmr/1.0 with spaces', [up(m.GENERIC_XMR_LOGIN)], { dialect: 'cryptonote', confidence: 'high', facts: { agent: 'xmr/1.0', login: WALLET_PREFIX, worker: 'rig7' } }],
    ['MinerGate login alone', [up(m.MINERGATE_LOGIN)], { dialect: 'cryptonote', confidence: 'medium', facts: { login: 'someon…' } }],
    ['MinerGate login confirmed by the pool', [up(m.MINERGATE_LOGIN), down(m.XMRIG_LOGIN_RESULT)], { dialect: 'cryptonote', confidence: 'high' }],
    ['CryptoNote job push', [down(m.CRYPTONOTE_JOB_PUSH)], { dialect: 'cryptonote', confidence: 'high', facts: { algorithm: 'rx/0' } }],
    ['Claymore EthProxy method-last', [up(m.CLAYMORE_LOGIN)], { dialect: 'ethproxy', confidence: 'high', facts: { method: 'eth_submitLogin', login: '0x52bc…', worker: 'eth1.0' } }],
    ['dwarfpool EthProxy', [up(m.DWARFPOOL_LOGIN)], { dialect: 'ethproxy', confidence: 'high', facts: { worker: 'rig1' } }],
    ['ethminer alphabetical', [up(m.ETHMINER_LOGIN), up(m.ETH_SUBMIT_WORK)], { dialect: 'ethproxy', confidence: 'high', facts: { login: '0x52bc…', worker: 'rig2' } }],
    ['eth_getWork alone', [up(m.ETH_GET_WORK)], { dialect: 'ethproxy', confidence: 'medium' }],
    ['eth_getWork answered with a work package', [up(m.ETH_GET_WORK), down(m.ETH_WORK_PACKAGE)], { dialect: 'ethproxy', confidence: 'high' }],
    ['NiceHash EthereumStratum/1.0.0', [up(m.NICEHASH_SUBSCRIBE), down(m.NICEHASH_SUBSCRIBE_RESULT), down(m.NICEHASH_NOTIFY)], { dialect: 'ethereum-stratum-1', confidence: 'high', facts: { agent: 'ethminer/0.19.0' } }],
    ['NiceHash proxy marking', [up(m.NICEHASH_PROXY_SUBSCRIBE)], { dialect: 'stratum-v1', confidence: 'high', facts: { agent: 'NiceHash/1.0.0' } }],
    ['EthereumStratum/2.0.0 hello', [up(m.ES2_HELLO), down(m.ES2_HELLO_RESULT)], { dialect: 'ethereum-stratum-2', confidence: 'high', facts: { agent: 'ethminer-0.19.0' } }],
    ['cpuminer subscribe + authorize', [up(m.CPUMINER_SUBSCRIBE), down(m.STRATUM_SUBSCRIBE_RESULT), up(m.STRATUM_AUTHORIZE)], { dialect: 'stratum-v1', confidence: 'high', facts: { agent: 'cpuminer/2.5.1', login: 't1VShH…', worker: 'rig' } }],
    ['cgminer subscribe', [up(m.CGMINER_SUBSCRIBE)], { dialect: 'stratum-v1', confidence: 'high', facts: { method: 'mining.subscribe', agent: 'cgminer/3.7.2' } }],
    ['EWBF (Zcash) subscribe', [up(m.EWBF_SUBSCRIBE)], { dialect: 'stratum-v1', confidence: 'high', facts: { agent: 'EWBF 0.3.4b' } }],
    ['BIP 310 configure first', [up(m.STRATUM_CONFIGURE), up(m.CGMINER_SUBSCRIBE)], { dialect: 'stratum-v1', confidence: 'high', facts: { method: 'mining.configure', algorithm: 'sha256d', agent: 'cgminer/3.7.2' } }],
    ['submit mid-stream', [up(m.STRATUM_SUBMIT)], { dialect: 'stratum-v1', confidence: 'high', facts: { method: 'mining.submit' } }],
    ['extranonce.subscribe', [up(m.STRATUM_EXTRANONCE_SUBSCRIBE)], { dialect: 'stratum-v1', confidence: 'high' }],
    ['equihashminer: three lines in one segment', [up(m.EQUIHASH_THREE_LINES)], { dialect: 'stratum-v1', confidence: 'high', facts: { agent: 'equihashminer', login: 't1VShH…', worker: 'w1' } }],
    ['server subscribe result', [down(m.STRATUM_SUBSCRIBE_RESULT)], { dialect: 'stratum-v1', confidence: 'high' }],
    ['server set_difficulty + notify', [down(m.STRATUM_SET_DIFFICULTY + m.STRATUM_NOTIFY)], { dialect: 'stratum-v1', confidence: 'high', facts: { method: 'mining.set_difficulty' } }],
    ['CoinHive messages on a raw stream', [up(`${m.COINHIVE_AUTH}\n`), down(`${m.COINHIVE_JOB}\n`), up(`${m.COINHIVE_SUBMIT}\n`)], { dialect: 'coinhive', confidence: 'high', facts: { login: 'QFDnRP…' } }],
  ];

  it.each(cases)('%s', (_name, steps, expected) => expectMining(stratum, steps, expected));

  it('identifies on the first login, before any share, with one detection per confidence rise', () => {
    const outcome = feed(stratum(), [up(m.MINERGATE_LOGIN), down(m.XMRIG_LOGIN_RESULT), up(m.XMRIG_SUBMIT), down(m.CRYPTONOTE_JOB_PUSH)], 'whole');
    expect(outcome.detectingPushes).toEqual([0, 1]);
    expect(outcome.detections.map((d) => [d.confidence, d.direction])).toEqual([
      ['medium', 'up'],
      ['high', 'down'],
    ]);
    expect(outcome.detections[1]?.evidence).toContain('agree');
  });

  const RECONNECT = '{"id":null,"method":"client.reconnect","params":["pool.example.org",3333,0]}\n';

  it('raises two medium findings to high when client and pool messages agree', () => {
    const outcome = feed(stratum(), [up(m.MINERGATE_LOGIN), down(RECONNECT)], 'whole');
    expect(outcome.detections.map((d) => d.confidence)).toEqual(['medium', 'high']);
    expect(outcome.detections[1]?.evidence).toBe('stratum client.reconnect ("client.reconnect"); client and pool messages agree');
  });

  it('flags messages travelling the wrong way without counting them as agreement', () => {
    const outcome = feed(stratum(), [up(RECONNECT), down(m.XMRIG_KEEPALIVE)], 'whole');
    expect(outcome.detections.map((d) => [d.confidence, d.evidence])).toEqual([['medium', 'stratum client.reconnect ("client.reconnect"), sent by the agent']]);
  });

  it('never puts a full wallet in a detection', () => {
    const outcome = feed(stratum(), [up(m.XMRIG_LOGIN), up(m.CLAYMORE_LOGIN), up(m.STRATUM_AUTHORIZE)], 'whole');
    const text = JSON.stringify(outcome.detections);
    for (const wallet of [m.MONERO_WALLET, m.ETH_WALLET, m.ZCASH_WALLET]) expect(text).not.toContain(wallet.slice(0, 12));
  });
});

describe('StratumClassifier: evasions (protocol-notes §1.3.7)', () => {
  const evasions: Array<[string, string, Expected]> = [
    ['UTF-8 BOM', `\uFEFF${m.CPUMINER_SUBSCRIBE}`, { dialect: 'stratum-v1', confidence: 'high' }],
    ['leading whitespace', ` \r\n\t \n${m.XMRIG_LOGIN}`, { dialect: 'cryptonote', confidence: 'high' }],
    ['CRLF line endings', m.EQUIHASH_THREE_LINES.replaceAll('\n', '\r\n'), { dialect: 'stratum-v1', confidence: 'high', facts: { worker: 'w1' } }],
    ['unicode escape in the method', '{"id":1,"method":"\\u006dining.subscribe","params":["x/1"]}\n', { dialect: 'stratum-v1', confidence: 'high', facts: { method: 'mining.subscribe' } }],
    ['upper-case method', '{"id":1,"method":"MINING.SUBSCRIBE","params":["x/1"]}\n', { dialect: 'stratum-v1', confidence: 'high', facts: { method: 'MINING.SUBSCRIBE', agent: 'x/1' } }],
    ['upper-case keys', '{"ID":1,"Method":"mining.authorize","Params":["w.x","x"]}\n', { dialect: 'stratum-v1', confidence: 'high', facts: { worker: 'x' } }],
    ['JSON-RPC batch', `[{"id":1,"method":"mining.subscribe","params":["b/1"]},{"id":2,"method":"mining.authorize","params":["${m.ZCASH_WALLET}.b","x"]}]\n`, { dialect: 'stratum-v1', confidence: 'high', facts: { agent: 'b/1', worker: 'b' } }],
    ['key reordering', `{"params":{"agent":"XMRig/6.21.0","pass":"x","login":"${m.MONERO_WALLET}"},"method":"login","id":1}\n`, { dialect: 'cryptonote', confidence: 'high', facts: { agent: 'XMRig/6.21.0' } }],
    ['no newline between messages', m.CPUMINER_SUBSCRIBE.trim() + m.STRATUM_AUTHORIZE.trim(), { dialect: 'stratum-v1', confidence: 'high', facts: { worker: 'rig' } }],
    ['mining after ten harmless JSON-RPC calls', m.ETH_BLOCK_NUMBER.repeat(10) + m.XMRIG_LOGIN, { dialect: 'cryptonote', confidence: 'high' }],
  ];

  it.each(evasions)('%s', (_name, text, expected) => expectMining(stratum, [up(text)], expected));
});

/** A plaintext SetupConnection frame (protocol 0, versions 2..2) with the given device strings. */
function setupConnection(vendor: string, hardware: string, firmware: string): Buffer {
  const str = (s: string): Buffer => Buffer.concat([Buffer.from([Buffer.byteLength(s)]), Buffer.from(s)]);
  const fixed = Buffer.from([0x00, 0x02, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00]);
  const payload = Buffer.concat([fixed, str('pool.example.org'), Buffer.from([0xae, 0x85]), str(vendor), str(hardware), str(firmware), str('dev-1')]);
  const header = Buffer.from([0x00, 0x00, 0x00, 0, 0, 0]);
  header.writeUIntLE(payload.length, 3, 3);
  return Buffer.concat([header, payload]);
}

/** Deterministic random-looking bytes. */
function pseudoRandom(length: number, seed: string): Buffer {
  const blocks: Buffer[] = [];
  for (let i = 0; blocks.length * 64 < length; i++) blocks.push(createHash('sha512').update(`${seed}:${i}`).digest());
  return Buffer.concat(blocks).subarray(0, length);
}

describe('StratumClassifier: Stratum V2', () => {
  it('recognises a plaintext SetupConnection in every chunking', () => {
    expectMining(stratum, [up(setupConnection('Bitmain', 'S19', 'fw-2.1'))], { dialect: 'stratum-v2', confidence: 'high', facts: { agent: 'Bitmain S19 fw-2.1' } });
  });

  it('ignores a frame whose version or string lengths do not add up', () => {
    const wrongVersion = setupConnection('v', 'h', 'f');
    wrongVersion.writeUInt16LE(3, 7);
    const wrongLength = setupConnection('v', 'h', 'f');
    wrongLength.writeUIntLE(wrongLength.length - 6 + 1, 3, 3);
    for (const frame of [wrongVersion, Buffer.concat([wrongLength, Buffer.from([0])])]) {
      expectNoMining(stratum, [up(frame)], 'rejected');
    }
  });

  const handshake = (actTwo: number): Step[] => [up(pseudoRandom(64, 'ellswift')), down(pseudoRandom(actTwo, 'act2')), up(pseudoRandom(22 + 80 + 16, 'setup'))];

  it.each([234, 170])('matches the encrypted handshake sizes 64 / %i / 22+N+16 when fed one push per read', (actTwo) => {
    const classifier = stratum();
    const outcome = feed(classifier, handshake(actTwo), 'whole');
    expect(outcome.detections.map((d) => d.confidence)).toEqual(['low', 'medium']);
    expect(outcome.detectingPushes).toEqual([1, 2]);
    expect(classifier.facts()?.dialect).toBe('stratum-v2-encrypted');
  });

  it('does not match the handshake when writes are split, or when the first 64 bytes are text', () => {
    expect(feed(stratum(), handshake(234), 'bytes').detections).toEqual([]);
    const text = 'A'.repeat(64);
    expect(feed(stratum(), [up(text), down(pseudoRandom(234, 'x')), up(pseudoRandom(118, 'y'))], 'whole').state).toBe('rejected');
  });
});

describe('StratumClassifier: rejection and false positives', () => {
  const tlsHello = Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0x00, 0xf4, 0x01, 0x00, 0x00, 0xf0, 0x03, 0x03]), pseudoRandom(245, 'hello')]);

  it.each([
    ['TLS ClientHello', [up(tlsHello)]],
    ['SSH banner', [up('SSH-2.0-OpenSSH_9.6\r\n')]],
    ['HTTP request', [up(m.httpRequest('POST', '/', { Host: 'pool' }, m.GETWORK_BODY))]],
    ['LSP with header framing', [up(`Content-Length: ${m.LSP_INITIALIZE.length}\r\n\r\n${m.LSP_INITIALIZE}`)]],
    ['server speaking first', [down('220 mail.example.org ESMTP\r\n'), up('EHLO me\r\n')]],
  ] satisfies Array<[string, Step[]]>)('rejects %s', (_name, steps) => expectNoMining(stratum, steps, 'rejected'));

  it.each([
    ['Ethereum node eth_blockNumber', m.ETH_BLOCK_NUMBER],
    ['LSP initialize', `${m.LSP_INITIALIZE}\n`],
    ['web-app login with username/password', m.WEB_APP_LOGIN],
    ['web-app login without pass or agent', m.WEB_APP_LOGIN_NO_PASS],
    ['REST login form', `${m.REST_LOGIN_FORM}\n`],
    ['web-app messages typed auth/job/submit', m.WEB_APP_TYPED_MESSAGES],
  ])('does not flag %s', (_name, text) => expectNoMining(stratum, [up(text), down('{"jsonrpc":"2.0","id":1,"result":"0x10d4f"}\n')], 'undecided'));

  it('ignores input after rejecting', () => {
    const classifier = stratum();
    expect(classifier.push(Buffer.from('SSH-2.0-x\r\n'), 'up', 0).state).toBe('rejected');
    expect(classifier.push(Buffer.from(m.XMRIG_LOGIN), 'up', 1)).toEqual({ state: 'rejected', detections: [] });
  });
});

describe('inspectMessage (WebSocket payloads)', () => {
  it.each([
    ['CoinHive auth', m.COINHIVE_AUTH, 'up', 'coinhive'],
    ['CoinHive job', m.COINHIVE_JOB, 'down', 'coinhive'],
    ['CoinHive submit', m.COINHIVE_SUBMIT, 'up', 'coinhive'],
    ['XMRig login relayed over WebSocket', m.XMRIG_LOGIN, 'up', 'cryptonote'],
    ['pretty-printed stratum subscribe', '{\n  "id": 1,\n  "method": "mining.subscribe",\n  "params": ["w/1"]\n}', 'up', 'stratum-v1'],
  ] satisfies Array<[string, string, Direction, StratumFacts['dialect']]>)('%s', (_name, text, direction, dialect) => {
    const detection = inspectMessage(text, direction, 42);
    expect(detection).toMatchObject({ type: 'stratum', confidence: 'high', direction, atMs: 42, stratum: { dialect } });
  });

  it('returns nothing for ordinary messages', () => {
    for (const text of [m.LSP_INITIALIZE, m.REST_LOGIN_FORM, m.WEB_APP_TYPED_MESSAGES, 'hello', '']) expect(inspectMessage(text, 'up', 0)).toBeUndefined();
  });
});

describe('HttpMiningClassifier', () => {
  const post = (body: string, headers: Record<string, string> = {}): string =>
    m.httpRequest('POST', '/', { Host: 'pool.example.org:8332', 'User-Agent': 'python-requests/2.31.0', 'Content-Type': 'application/json', ...headers }, body);
  const chunkedPost = (body: string): string =>
    `POST / HTTP/1.1\r\nHost: pool\r\nTransfer-Encoding: chunked\r\nAuthorization: Basic ${Buffer.from('miner1.rig:x').toString('base64')}\r\n\r\n${m.chunkedBody(body, [5, 11, 3])}`;
  const harmlessGet = m.httpRequest('GET', '/index.html', { Host: 'example.org', 'User-Agent': 'curl/8.5.0' });
  const harmlessResponse = m.httpResponse('200 OK', { 'Content-Type': 'application/json' }, '{"ok":true}');

  const cases: Array<[string, Step[], Expected]> = [
    ['getwork POST with Content-Length', [up(post(m.GETWORK_BODY))], { dialect: 'getwork', confidence: 'high', facts: { method: 'getwork', agent: 'python-requests/2.31.0' } }],
    ['getwork POST with a chunked body', [up(chunkedPost(m.GETWORK_BODY))], { dialect: 'getwork', confidence: 'high', facts: { login: 'miner1…' } }],
    ['getblocktemplate', [up(post(m.GBT_BODY))], { dialect: 'getblocktemplate', confidence: 'high' }],
    ['GBT with X-Mining-Extensions names the body dialect', [up(post(m.GBT_BODY, { 'X-Mining-Extensions': 'longpoll midstate rollntime submitold' }))], { dialect: 'getblocktemplate', confidence: 'high' }],
    ['Monero daemon getblocktemplate', [up(post(m.MONERO_DAEMON_GBT_BODY))], { dialect: 'getblocktemplate', confidence: 'high', facts: { login: WALLET_PREFIX } }],
    ['Ethereum eth_getWork over HTTP', [up(m.httpRequest('POST', `/?miner=10@${m.ETH_WALLET}@rig1`, { Host: 'pool.eth.example' }, m.ETH_HTTP_GET_WORK_BODY))], { dialect: 'getwork', confidence: 'medium' }],
    ['X-Mining-Extensions header', [up(post('{"id":1,"method":"getinfo","params":[]}', { 'X-Mining-Extensions': 'midstate' }))], { dialect: 'getwork', confidence: 'high' }],
    ['miner User-Agent alone', [up(m.httpRequest('GET', '/', { Host: 'pool', 'User-Agent': 'cgminer 3.7.2' }))], { dialect: 'getwork', confidence: 'medium', facts: { agent: 'cgminer 3.7.2' } }],
    ['X-Stratum response header', [up(harmlessGet), down(m.httpResponse('200 OK', { 'X-Stratum': 'stratum+tcp://pool.example.org:3333' }, '{}'))], { dialect: 'getwork', confidence: 'high' }],
    ['getwork request and work answer agree', [up(post(m.ETH_HTTP_GET_WORK_BODY)), down(m.httpResponse('200 OK', { 'X-Long-Polling': '/LP' }, m.GETWORK_RESULT_BODY))], { dialect: 'getwork', confidence: 'high' }],
    ['GBT answer with coinbasetxn', [up(harmlessGet), down(m.httpResponse('200 OK', {}, m.GBT_RESULT_BODY))], { dialect: 'getblocktemplate', confidence: 'high' }],
    ['pipelined requests ending in getwork', [up(harmlessGet + harmlessGet + post(m.GETWORK_BODY))], { dialect: 'getwork', confidence: 'high' }],
    ['submitblock larger than the inspection cap', [up(post(`{"id":1,"method":"submitblock","params":["${'ab'.repeat(12_000)}"]}`))], { dialect: 'getblocktemplate', confidence: 'high', facts: { method: 'submitblock' } }],
  ];

  it.each(cases)('%s', (_name, steps, expected) => expectMining(http, steps, expected));

  it('catches a mining request after ten harmless requests on one keep-alive stream', () => {
    const steps: Step[] = [];
    for (let i = 0; i < 10; i++) steps.push(up(harmlessGet), down(harmlessResponse));
    steps.push(up(chunkedPost(m.GETWORK_BODY)));
    expectMining(http, steps, { dialect: 'getwork', confidence: 'high' });
    const outcome = feed(http(), steps, 'whole');
    expect(outcome.detectingPushes).toEqual([20]);
  });

  it.each([
    ['REST login form', [up(post(m.REST_LOGIN_FORM)), down(harmlessResponse)]],
    ['Ethereum node eth_blockNumber', [up(post(m.ETH_BLOCK_NUMBER)), down(m.httpResponse('200 OK', {}, '{"jsonrpc":"2.0","id":1,"result":"0x10d4f"}'))]],
    ['plain browsing', [up(harmlessGet), down(harmlessResponse), up(harmlessGet)]],
  ] satisfies Array<[string, Step[]]>)('does not flag %s', (_name, steps) => expectNoMining(http, steps, 'identified'));

  it.each([
    ['an SSH banner', 'SSH-2.0-OpenSSH_9.6\r\n'],
    ['stratum JSON', m.CPUMINER_SUBSCRIBE],
  ])('rejects %s', (_name, text) => expectNoMining(http, [up(text)], 'rejected'));
});

describe('hostile input (properties)', () => {
  const chunks = fc.array(fc.tuple(fc.constantFrom<Direction>('up', 'down'), fc.uint8Array({ maxLength: 2048 })), { maxLength: 40 });

  it('StratumClassifier never throws and stays under its caps', () => {
    fc.assert(
      fc.property(chunks, (script) => {
        const classifier = stratum();
        script.forEach(([direction, bytes], i) => {
          classifier.push(Buffer.from(bytes), direction, i);
          expect(classifier.bufferedBytes).toBeLessThanOrEqual(2 * MAX_JSON_MESSAGE_BYTES + 1297);
        });
      }),
    );
  });

  it('StratumClassifier survives JSON-shaped noise', () => {
    const noise = fc.array(fc.constantFrom('{', '}', '[', ']', '"', '\\', '\n', ':', ',', '"method":"mining.', 'login', '"params":{', 'x'), { maxLength: 200 });
    fc.assert(
      fc.property(noise, fc.constantFrom<Direction>('up', 'down'), (parts, direction) => {
        const classifier = stratum();
        expect(() => classifier.push(Buffer.from(parts.join('')), direction, 0)).not.toThrow();
      }),
    );
  });

  it('HttpMiningClassifier never throws and stays under its caps', () => {
    fc.assert(
      fc.property(chunks, (script) => {
        const classifier = http();
        classifier.push(Buffer.from('POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n'), 'up', 0);
        classifier.push(Buffer.from('HTTP/1.1 200 OK\r\n\r\n'), 'down', 0);
        script.forEach(([direction, bytes], i) => {
          classifier.push(Buffer.from(bytes), direction, i);
          expect(classifier.bufferedBytes).toBeLessThanOrEqual(2 * MAX_HEAD_BYTES + 2 * MAX_BODY_INSPECTION_BYTES);
        });
      }),
    );
  });

  it('a never-ending message or head stays capped', () => {
    const classifier = stratum();
    classifier.push(Buffer.from('{"id":1,"method":"'), 'up', 0);
    for (let i = 0; i < 100; i++) classifier.push(Buffer.alloc(1024, 0x61), 'up', i);
    expect(classifier.bufferedBytes).toBeLessThanOrEqual(MAX_JSON_MESSAGE_BYTES);
    expect(lastDetection(feed(classifier, [up(`\n${m.CPUMINER_SUBSCRIBE}`)], 'whole'))?.stratum?.dialect).toBe('stratum-v1');

    const web = http();
    web.push(Buffer.from('GET / HTTP/1.1\r\n'), 'up', 0);
    for (let i = 0; i < 100; i++) web.push(Buffer.from(`X-Filler-${i}: ${'a'.repeat(1000)}\r\n`), 'up', i);
    expect(web.bufferedBytes).toBeLessThanOrEqual(MAX_HEAD_BYTES);
  });
});
