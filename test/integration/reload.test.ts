/**
 * Hot reload through the real triggers: the rules-directory watcher and SIGHUP. Tunnels are raw CONNECT
 * sockets to echo servers, so a test can hold one open across a reload and see it survive or be closed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadRules } from '../../src/config/load-rules.js';
import { buildSnapshot } from '../../src/pipeline/build-snapshot.js';
import type { FlowRequest } from '../../src/pipeline/pipeline.js';
import type { PolicySnapshot } from '../../src/pipeline/policy-snapshot.js';
import { admittedFlowOf, nextEvent } from '../helpers/event-waits.js';
import { startTestProxy, type TestProxy } from '../helpers/proxy.js';
import { connectTo, connectTunnel, echoRoundTrip, whenClosed } from '../helpers/raw-clients.js';
import { DENY_UNKNOWN_POLICY, tempRules, type TempRules } from '../helpers/rules.js';
import { echoUpstream } from '../helpers/upstreams.js';

type Echo = Awaited<ReturnType<typeof echoUpstream>>;

/** The agent file: host rules per port, the loopback CIDR that unlocks them, and optional denials. */
function coderRules(ports: number[], deny: string[] = []): string {
  const list = ports.join(', ');
  return `agent: coder
identify: { sources: ["127.0.0.1/32"] }
allow:
  - { host: keep.test, ports: [${list}] }
  - { host: drop.test, ports: [${list}] }
  - { cidr: 127.0.0.1/32, ports: [${list}] }
deny:
${deny.map((host) => `  - { host: ${host}, reason: "${host} is retired; use keep.test" }`).join('\n') || '  []'}
`;
}

describe('rules reload', () => {
  let rules: TempRules;
  let proxy: TestProxy;
  let keep: Echo;
  let drop: Echo;
  let extra: Echo;
  let proxyPort: number;

  const isReload = (trigger: string) => (event: { event: { action: string }; chokepoint: { details?: Record<string, unknown> } }) =>
    event.event.action === 'config.reloaded' && event.chokepoint.details?.trigger === trigger;

  /** Rewrites the agent file and waits until the watcher has reloaded it. */
  async function rewriteAndReload(yaml: string): Promise<void> {
    const reloaded = nextEvent(proxy.log, isReload('file change'));
    await rules.writeAgent('coder', yaml);
    await reloaded;
  }

  beforeAll(async () => {
    [keep, drop, extra] = await Promise.all([echoUpstream(), echoUpstream(), echoUpstream()]);
    rules = await tempRules(DENY_UNKNOWN_POLICY, { coder: coderRules([keep.port, drop.port]) });
    proxy = await startTestProxy(rules.dir, (config) => {
      config.hosts.set('keep.test', ['127.0.0.1']);
      config.hosts.set('drop.test', ['127.0.0.1']);
    });
    proxyPort = proxy.proxy.http?.port ?? 0;
  });
  afterAll(async () => {
    await proxy.stop();
    await Promise.all([keep.close(), drop.close(), extra.close()]);
    await rules.remove();
  });

  it('applies an edited agent file through the watcher (config.reloaded)', async () => {
    const before = await connectTunnel(proxyPort, `keep.test:${extra.port}`);
    expect(before.status).toBe(403);

    const reloaded = nextEvent(proxy.log, isReload('file change'));
    await rules.writeAgent('coder', coderRules([keep.port, drop.port, extra.port]));
    const event = await reloaded;
    expect(event.event.outcome).toBe('success');
    expect(event.chokepoint.details).toMatchObject({ agents: 1, closed_flows: 0 });

    const after = await connectTunnel(proxyPort, `keep.test:${extra.port}`);
    expect(after.status).toBe(200);
    expect((await echoRoundTrip(after.socket, 'new rule')).toString()).toBe('new rule');
    after.socket.end();
    await whenClosed(after.socket);
  });

  it('rejects an invalid edit with file:line errors and keeps serving the previous rules', async () => {
    const rejected = nextEvent(proxy.log, (event) => event.event.action === 'config.rejected');
    // Had it been accepted, this file would deny keep.test; line 6 holds a port out of range.
    await rules.writeAgent('coder', `agent: coder
identify: { sources: ["127.0.0.1/32"] }
allow:
  - { host: keep.test, ports: [${keep.port}] }
  - { cidr: 127.0.0.1/32, ports: [${keep.port}] }
  - { host: drop.test, ports: [70000] }
deny:
  - { host: keep.test }
`);
    const event = await rejected;
    expect(event.event.kind).toBe('alert');
    expect(event.event.reason).toMatch(/previous rules stay in force/);
    const errors = event.chokepoint.details?.errors;
    expect(Array.isArray(errors)).toBe(true);
    expect(errors).toEqual(expect.arrayContaining([expect.stringMatching(/agents\/coder\.yaml:6: allow\[2\]\.ports\[0\]: .*70000/)]));

    const tunnel = await connectTunnel(proxyPort, `keep.test:${keep.port}`);
    expect(tunnel.status).toBe(200);
    expect((await echoRoundTrip(tunnel.socket, 'old rules')).toString()).toBe('old rules');
    tunnel.socket.end();
    await whenClosed(tunnel.socket);

    await rewriteAndReload(coderRules([keep.port, drop.port]));
  });

  it('reloads on SIGHUP', async () => {
    const before = await connectTunnel(proxyPort, `drop.test:${extra.port}`);
    expect(before.status).toBe(403);

    const byHangup = nextEvent(proxy.log, isReload('SIGHUP'));
    // The watcher also sees this write, later (it waits for the files to settle); the SIGHUP reload
    // does not wait, and reads the file as written.
    const byWatcher = nextEvent(proxy.log, isReload('file change'));
    await rules.writeAgent('coder', coderRules([keep.port, drop.port, extra.port]));
    process.kill(process.pid, 'SIGHUP');
    await byHangup;

    const after = await connectTunnel(proxyPort, `drop.test:${extra.port}`);
    expect(after.status).toBe(200);
    after.socket.end();
    await whenClosed(after.socket);
    await byWatcher;
  });

  /** The snapshot a reload would install if drop.test were denied, built from a separate directory. */
  async function snapshotDenyingDrop(): Promise<PolicySnapshot> {
    const other = await tempRules(DENY_UNKNOWN_POLICY, { coder: coderRules([keep.port, drop.port], ['drop.test']) });
    try {
      const loaded = await loadRules(other.dir);
      if (!loaded.ok) throw new Error(loaded.errors.map((error) => error.message).join('\n'));
      const built = buildSnapshot(loaded.ruleSet);
      if (!built.ok) throw new Error(built.errors.join('\n'));
      return built.snapshot;
    } finally {
      await other.remove();
    }
  }

  // The next two drive the pipeline directly, to land a policy change at an exact point of a flow's life.
  const dropRequest = (): FlowRequest => ({ entry: 'connect', client: { address: '127.0.0.1', port: 1 }, target: { host: 'drop.test', port: drop.port } });

  it('judges a flow whose name lookup spans a reload by the new rules', async () => {
    const denying = await snapshotDenyingDrop();
    const pipeline = proxy.proxy.pipeline;
    try {
      // admit() runs synchronously up to its name lookup; the new policy lands before the lookup returns.
      const admitting = pipeline.admit(dropRequest());
      pipeline.replacePolicy(denying);
      const admission = await admitting;
      if (admission.kind === 'admitted') pipeline.close(admission.flow, { reason: 'test cleanup' });
      expect(admission.kind).toBe('denied');
    } finally {
      // Put the file's rules back in force: the injected snapshot came from no reload.
      expect((await proxy.proxy.reload('test cleanup')).ok).toBe(true);
    }
  });

  it('ends a flow that a reload denies while it is still dialling', async () => {
    const denying = await snapshotDenyingDrop();
    const pipeline = proxy.proxy.pipeline;
    const admission = await pipeline.admit(dropRequest());
    if (admission.kind !== 'admitted') throw new Error(`expected admission, got ${admission.kind}`);
    try {
      const closed = nextEvent(proxy.log, (event) => event.event.action === 'flow.closed' && event.chokepoint.flow_id === admission.flow.id);
      const dialling = pipeline.connect(admission.flow);
      expect(pipeline.replacePolicy(denying)).toEqual({ closed: 1 });
      const dial = await dialling;
      if (dial.ok) dial.socket.destroy();
      expect(dial).toMatchObject({ ok: false, message: 'policy reload: drop.test is retired; use keep.test' });
      expect((await closed).event.reason).toBe('policy reload: drop.test is retired; use keep.test');
      expect(proxy.proxy.registry.get(admission.flow.id)).toBeUndefined();
    } finally {
      if (proxy.proxy.registry.get(admission.flow.id)) pipeline.close(admission.flow, { reason: 'test cleanup' });
      expect((await proxy.proxy.reload('test cleanup')).ok).toBe(true);
    }
  });

  it('ends a flow that a reload denies between its dial and its relay', async () => {
    const denying = await snapshotDenyingDrop();
    const pipeline = proxy.proxy.pipeline;
    const admission = await pipeline.admit(dropRequest());
    if (admission.kind !== 'admitted') throw new Error(`expected admission, got ${admission.kind}`);
    const dial = await pipeline.connect(admission.flow);
    if (!dial.ok) throw new Error(dial.message);
    // Stands in for the agent's socket: any connected socket will do.
    const agentSide = await connectTo(keep.port);
    try {
      const closed = nextEvent(proxy.log, (event) => event.event.action === 'flow.closed' && event.chokepoint.flow_id === admission.flow.id);
      expect(pipeline.replacePolicy(denying)).toEqual({ closed: 1 });
      pipeline.relay(admission.flow, agentSide, dial.socket);
      expect((await closed).event.reason).toBe('policy reload: drop.test is retired; use keep.test');
      expect(dial.socket.destroyed).toBe(true);
    } finally {
      agentSide.destroy();
      dial.socket.destroy();
      expect((await proxy.proxy.reload('test cleanup')).ok).toBe(true);
    }
  });

  it('closes a live tunnel the new rules deny, says why, and keeps the allowed one', async () => {
    const kept = await connectTunnel(proxyPort, `keep.test:${keep.port}`);
    const dropped = await connectTunnel(proxyPort, `drop.test:${drop.port}`);
    expect([kept.status, dropped.status]).toEqual([200, 200]);
    expect((await echoRoundTrip(kept.socket, 'kept')).toString()).toBe('kept');
    expect((await echoRoundTrip(dropped.socket, 'dropped')).toString()).toBe('dropped');
    const keptFlow = admittedFlowOf(proxy.log, kept.socket.localPort).chokepoint.flow_id;
    const droppedFlow = admittedFlowOf(proxy.log, dropped.socket.localPort).chokepoint.flow_id;

    const droppedClosed = nextEvent(proxy.log, (event) => event.event.action === 'flow.closed' && event.chokepoint.flow_id === droppedFlow);
    const reloaded = nextEvent(proxy.log, isReload('file change'));
    await rules.writeAgent('coder', coderRules([keep.port, drop.port], ['drop.test']));
    expect((await reloaded).chokepoint.details).toMatchObject({ closed_flows: 1 });

    const closed = await droppedClosed;
    expect(closed.event.reason).toMatch(/^policy reload: drop\.test is retired; use keep\.test$/);
    expect(closed.destination).toMatchObject({ domain: 'drop.test', port: drop.port });
    await whenClosed(dropped.socket);

    expect((await echoRoundTrip(kept.socket, 'still here')).toString()).toBe('still here');
    expect(proxy.proxy.registry.get(keptFlow ?? '')).toBeDefined();
    expect(proxy.log.events.some((event) => event.event.action === 'flow.closed' && event.chokepoint.flow_id === keptFlow)).toBe(false);

    // The denial applies to new tunnels too.
    const refused = await connectTunnel(proxyPort, `drop.test:${drop.port}`);
    expect(refused.status).toBe(403);
    expect(JSON.parse(refused.body)).toMatchObject({ error: 'denied', reason: 'drop.test is retired; use keep.test' });

    kept.socket.end();
    await whenClosed(kept.socket);
  });
});
