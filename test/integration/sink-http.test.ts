/**
 * The HTTP sink against a real collector on loopback that is down, then slow, then back, across a
 * Chokepoint restart with events still spooled: nothing lost, nothing twice, in order. A bounded spool
 * drops its oldest events and says so (`sink.spool_overflow`, delivered too). Splunk HEC framing and
 * token. And a collector that never answers does not stall a real curl through the proxy.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ChokepointEvent } from '../../src/events/types.js';
import type { HttpSinkConfig, SinkConfig } from '../../src/sinks/sink-config.js';
import { Collector, hecEvents, jsonRecords } from '../helpers/collector.js';
import { curl } from '../helpers/curl.js';
import { emitNumbered, numberOf, range, sinkWorkspace, startSinkProxy, type SinkWorkspace } from '../helpers/sinks.js';
import { httpUpstream, selfSignedCertificate, type Upstream } from '../helpers/upstreams.js';

let workspace: SinkWorkspace;
let collector: Collector;
beforeEach(async () => {
  workspace = await sinkWorkspace();
  collector = await Collector.reserve();
});
afterEach(async () => {
  await collector.down();
  await workspace.remove();
});

function httpSink(over: Partial<HttpSinkConfig> = {}): SinkConfig {
  return {
    type: 'http',
    name: 'collector',
    format: 'ecs',
    queueMax: 100_000,
    url: collector.url,
    style: 'json',
    sourcetype: 'chokepoint',
    headers: {},
    headersFromEnv: {},
    batch: { maxEvents: 50, maxBytes: 1_048_576, intervalMs: 20 },
    retry: { initialMs: 20, maxMs: 200 },
    timeoutMs: 10_000,
    spool: { maxBytes: 64 * 1024 * 1024, segmentBytes: 64 * 1024 },
    ...over,
  };
}

/** Every record the collector acknowledged, in arrival order. */
function received(): ChokepointEvent[] {
  return collector.accepted.flatMap((batch) => jsonRecords(batch) as ChokepointEvent[]);
}

const receivedNumbers = (): number[] => received().map(numberOf).filter((n): n is number => n !== undefined);
const hasNumber = (n: number) => (): boolean => receivedNumbers().includes(n);

describe('HTTP sink', () => {
  it('loses nothing, repeats nothing and keeps order through down, slow, back and a restart', async () => {
    // 1. The collector is down: events go to the spool, the failure is reported (rate-limited).
    const first = await startSinkProxy(workspace, [httpSink()]);
    emitNumbered(first.proxy, 0, 300);
    await first.log.waitFor((event) => event.event.action === 'sink.error');

    // 2. It comes back slow: the backlog drains, in batches, in order.
    collector.slowMs = 30;
    await collector.up('slow');
    emitNumbered(first.proxy, 300, 300);
    await collector.waitUntil(hasNumber(599));

    // 3. Down again; more events; Chokepoint stops with them still in its spool.
    await collector.down();
    emitNumbered(first.proxy, 600, 300);
    await first.proxy.stop();
    expect(receivedNumbers()).not.toContain(899);

    // 4. A new Chokepoint on the same state directory; the collector is back.
    const second = await startSinkProxy(workspace, [httpSink()]);
    emitNumbered(second.proxy, 900, 100);
    await collector.up('up');
    await collector.waitUntil(hasNumber(999));
    await second.proxy.stop();

    expect(receivedNumbers()).toEqual(range(0, 1000));
    // Every other record (proxy.started, sink.error, …) arrived once too.
    const texts = received().map((record) => JSON.stringify(record));
    expect(new Set(texts).size).toBe(texts.length);
    expect(received().filter((record) => record.event.action === 'proxy.started')).toHaveLength(2);
    expect(collector.accepted.every((batch) => batch.headers['content-type'] === 'application/json')).toBe(true);
  });

  it('retries a batch the collector refused (503) and acknowledges it only after a 2xx', async () => {
    await collector.up('failing');
    const { proxy, log } = await startSinkProxy(workspace, [httpSink()]);
    emitNumbered(proxy, 0, 120);
    await collector.waitUntil(() => collector.requestsSeen >= 3);
    const error = await log.waitFor((event) => event.event.action === 'sink.error');
    expect(error.event.reason).toMatch(/HTTP 503/);
    collector.mode = 'up';
    await collector.waitUntil(hasNumber(119));
    await proxy.stop();
    expect(receivedNumbers()).toEqual(range(0, 120));
  });

  it('sets aside an event the collector rejects for good (400) and delivers the ones behind it, in order', async () => {
    collector.rejects = (body) => body.includes('"poison":true');
    await collector.up('up');
    const { proxy, log } = await startSinkProxy(workspace, [httpSink()]);
    for (let n = 0; n < 200; n += 1) {
      proxy.events.emit({ name: 'flow.denied', kind: 'event', outcome: 'failure', reason: 'test event', details: n === 37 || n === 150 ? { n, poison: true } : { n } });
    }
    await collector.waitUntil(hasNumber(199));
    const report = await log.waitFor((event) => event.event.action === 'sink.dead_letter');
    await proxy.stop();

    expect(receivedNumbers()).toEqual(range(0, 200).filter((n) => n !== 37 && n !== 150));
    const file = path.join(workspace.stateDir, 'spool', 'collector', 'dead-letter.jsonl');
    const deadLetters = (await readFile(file, 'utf8')).trim().split('\n').map((line) => numberOf(JSON.parse(line)));
    expect(deadLetters).toEqual([37, 150]);
    expect(report.chokepoint.details).toMatchObject({ sink: 'collector', status: 'HTTP 400', file });
    const setAside = log.named('sink.dead_letter').reduce((sum, event) => sum + Number(event.chokepoint.details?.dead_letter_events), 0);
    expect(setAside).toBe(2);
  });

  it('keeps retrying (never dead-letters) a collector that refuses the token (401)', async () => {
    let refusing = true;
    // The collector's own auth check: 401 while `refusing`.
    collector.authorize = () => !refusing;
    await collector.up('up');
    const { proxy, log } = await startSinkProxy(workspace, [httpSink()]);
    emitNumbered(proxy, 0, 50);
    await collector.waitUntil(() => collector.unauthorized >= 5);
    refusing = false;
    await collector.waitUntil(hasNumber(49));
    await proxy.stop();
    expect(receivedNumbers()).toEqual(range(0, 50));
    expect(log.named('sink.dead_letter')).toHaveLength(0);
  });

  it('does not follow a redirect to another host (the token stays home) and keeps the events until the collector answers', async () => {
    const token = 'test-token-redirect-9a1';
    process.env.CHOKEPOINT_TEST_REDIRECT_TOKEN = token;
    const elsewhere = await Collector.reserve();
    try {
      await elsewhere.up('up');
      // Another origin (another port): were the redirect followed, it would see the request and its token.
      collector.redirectTo = `http://127.0.0.1:${elsewhere.port}/steal`;
      await collector.up('up');
      const { proxy, log } = await startSinkProxy(workspace, [httpSink({ tokenEnv: 'CHOKEPOINT_TEST_REDIRECT_TOKEN' })]);
      emitNumbered(proxy, 0, 20);
      const error = await log.waitFor((event) => event.event.action === 'sink.error');
      expect(error.event.reason).toMatch(/HTTP 307/);
      await collector.waitUntil(() => collector.requestsSeen >= 3);
      collector.redirectTo = undefined;
      await collector.waitUntil(hasNumber(19));
      await proxy.stop();
      expect(receivedNumbers()).toEqual(range(0, 20));
      expect(elsewhere.requestsSeen).toBe(0);
      expect(log.named('sink.dead_letter')).toHaveLength(0);
      expect(log.events.some((event) => JSON.stringify(event).includes(token))).toBe(false);
    } finally {
      delete process.env.CHOKEPOINT_TEST_REDIRECT_TOKEN;
      await elsewhere.down();
    }
  });

  it('starts despite a damaged ack.json, sends the whole spool again and says so', async () => {
    const first = await startSinkProxy(workspace, [httpSink()]);
    emitNumbered(first.proxy, 0, 100);
    await first.proxy.stop();
    await writeFile(path.join(workspace.stateDir, 'spool', 'collector', 'ack.json'), '{"segm');

    await collector.up('up');
    const second = await startSinkProxy(workspace, [httpSink()]);
    const warning = await second.log.waitFor((event) => event.event.action === 'sink.error');
    expect(warning.event.reason).toMatch(/ack\.json was damaged/);
    // Found while the sink opened, reported after proxy.started: a hash chain may only begin with it.
    expect(second.log.events[0]?.event.action).toBe('proxy.started');
    await collector.waitUntil(hasNumber(99));
    await second.proxy.stop();
    expect(receivedNumbers()).toEqual(range(0, 100));
  });

  it('drops the oldest events when the spool is full, and reports it in an event that is delivered too', async () => {
    const sink = httpSink({ spool: { maxBytes: 32 * 1024, segmentBytes: 4 * 1024 } });
    const { proxy, log } = await startSinkProxy(workspace, [sink]);
    const total = 1000;
    emitNumbered(proxy, 0, total);
    const overflow = await log.waitFor((event) => event.event.action === 'sink.spool_overflow');
    expect(overflow.chokepoint.details).toMatchObject({ sink: 'collector', max_bytes: 32 * 1024 });
    emitNumbered(proxy, total, 1);
    await collector.up('up');
    await collector.waitUntil(() => hasNumber(total)() && received().some((record) => record.event.action === 'sink.spool_overflow'));
    await proxy.stop();

    const numbers = receivedNumbers();
    // The survivors are the newest events, in order, each once.
    expect(numbers).toEqual(range(numbers[0] ?? -1, numbers.length));
    expect(numbers.at(-1)).toBe(total);
    // Every event the collector never got is counted in an overflow report.
    const dropped = log.named('sink.spool_overflow').reduce((sum, event) => sum + Number(event.chokepoint.details?.dropped_events), 0);
    expect(total + 1 - numbers.length).toBeGreaterThan(0);
    expect(dropped).toBeGreaterThanOrEqual(total + 1 - numbers.length);
  });

  it('speaks Splunk HEC: concatenated {time, event, sourcetype} with a Splunk token from the environment', async () => {
    const token = 'test-hec-token-5f1c';
    process.env.CHOKEPOINT_TEST_HEC_TOKEN = token;
    process.env.CHOKEPOINT_TEST_API_KEY = 'api-key-77e0';
    try {
      await collector.up('up');
      const { proxy, log } = await startSinkProxy(workspace, [httpSink({ style: 'splunk_hec', sourcetype: 'chokepoint:ecs', tokenEnv: 'CHOKEPOINT_TEST_HEC_TOKEN', headersFromEnv: { 'X-Api-Key': 'CHOKEPOINT_TEST_API_KEY' } })]);
      emitNumbered(proxy, 0, 10);
      await collector.waitUntil(() => collector.accepted.flatMap(hecEvents).length >= 11);
      await proxy.stop();
      expect(collector.accepted.every((batch) => batch.headers.authorization === `Splunk ${token}`)).toBe(true);
      expect(collector.accepted.every((batch) => batch.headers['x-api-key'] === 'api-key-77e0')).toBe(true);
      const events = collector.accepted.flatMap(hecEvents) as Array<{ time: number; sourcetype: string; event: ChokepointEvent }>;
      for (const hec of events) {
        expect(hec.sourcetype).toBe('chokepoint:ecs');
        expect(hec.time).toBeCloseTo(Date.parse(hec.event['@timestamp']) / 1000, 3);
      }
      expect(events.map((hec) => numberOf(hec.event)).filter((n) => n !== undefined)).toEqual(range(0, 10));
      // The secret is in the header only, never in an event.
      expect(log.events.some((event) => JSON.stringify(event).includes(token))).toBe(false);
    } finally {
      delete process.env.CHOKEPOINT_TEST_HEC_TOKEN;
      delete process.env.CHOKEPOINT_TEST_API_KEY;
    }
  });

  it('a start refused for an unreadable ca_file leaves the spool free for the next start', async () => {
    const missing = path.join(workspace.dir, 'no-such-ca.pem');
    await expect(startSinkProxy(workspace, [httpSink({ url: collector.url.replace('http:', 'https:'), caFile: missing })])).rejects.toThrow(/cannot read ca_file/);
    await collector.up('up');
    const { proxy } = await startSinkProxy(workspace, [httpSink()]);
    emitNumbered(proxy, 0, 3);
    await collector.waitUntil(hasNumber(2));
    await proxy.stop();
  });

  it('refuses to start when the token variable is missing, naming the variable but no value', async () => {
    await expect(startSinkProxy(workspace, [httpSink({ tokenEnv: 'CHOKEPOINT_TEST_NO_SUCH_TOKEN' })])).rejects.toThrow(/CHOKEPOINT_TEST_NO_SUCH_TOKEN/);
  });

  it('delivers to an https:// collector whose private CA is given in ca_file, and refuses it without', async () => {
    const certificate = selfSignedCertificate(['127.0.0.1']);
    const secure = await Collector.reserve(certificate);
    try {
      await secure.up('up');
      const trusting = await startSinkProxy(workspace, [httpSink({ url: secure.url, caFile: certificate.certPath })]);
      emitNumbered(trusting.proxy, 0, 10);
      await secure.waitUntil(() => secure.accepted.flatMap(jsonRecords).some((record) => numberOf(record) === 9));
      await trusting.proxy.stop();

      const delivered = secure.accepted.length;
      const untrusting = await startSinkProxy(workspace, [httpSink({ url: secure.url, name: 'untrusting' })]);
      try {
        emitNumbered(untrusting.proxy, 100, 1);
        const error = await untrusting.log.waitFor((event) => event.event.action === 'sink.error');
        expect(error.event.reason).toMatch(/SELF_SIGNED|UNABLE_TO_VERIFY|CERT/);
      } finally {
        await untrusting.proxy.stop();
      }
      expect(secure.accepted).toHaveLength(delivered);
    } finally {
      await secure.down();
      certificate.cleanup();
    }
  });

  describe('with a collector that never answers', () => {
    let upstream: Upstream;
    beforeEach(async () => {
      upstream = await httpUpstream();
    });
    afterEach(() => upstream.close());

    it('does not slow a flow through the proxy', async () => {
      await collector.up('blocked');
      const { proxy, log, httpUrl } = await startSinkProxy(workspace, [httpSink({ timeoutMs: 600_000, batch: { maxEvents: 1, maxBytes: 1_048_576, intervalMs: 1 } })]);
      try {
        // The sink's first request is hanging before the flow starts.
        await collector.waitUntil(() => collector.requestsSeen >= 1);
        const result = await curl(['--proxy', httpUrl, `http://127.0.0.1:${upstream.port}/through`]);
        expect(result.code).toBe(0);
        expect(result.status).toBe(200);
        expect(result.body).toContain('hello from upstream');
        await log.waitFor((event) => event.event.action === 'flow.closed');
        // Still nothing acknowledged: the flow finished while the sink was blocked.
        expect(collector.accepted).toHaveLength(0);
      } finally {
        await proxy.stop();
      }
    });
  });
});
