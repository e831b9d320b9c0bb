import { DEFAULT_QUARANTINE_CONFIG } from '../../src/config/quarantine-config.js';
import { loadRules } from '../../src/config/load-rules.js';
import { DnsService, type DnsServiceParts } from '../../src/dns/dns-service.js';
import { DnsTunnelDetector } from '../../src/dns/tunnel-detector.js';
import { UpstreamForwarder, type UpstreamServer } from '../../src/dns/upstream.js';
import { EventBus } from '../../src/events/bus.js';
import { FlowRegistry } from '../../src/flow/registry.js';
import { NameMemory } from '../../src/net/name-memory.js';
import { buildSnapshot } from '../../src/pipeline/build-snapshot.js';
import { QuarantineController } from '../../src/quarantine/controller.js';
import { QuarantineStore } from '../../src/quarantine/store.js';
import { EventLog } from './proxy.js';

/**
 * A DnsService built from a real rules directory with real parts (policy snapshot, quarantine store in
 * the rules directory, event bus, forwarder to real upstream resolvers), without the listener's sockets:
 * for tests that feed it bytes directly (property tests) and still go through the whole path.
 */
export async function dnsServiceFor(rulesDir: string, upstreams: UpstreamServer[], extra: Partial<DnsServiceParts> = {}): Promise<{ service: DnsService; log: EventLog }> {
  const loaded = await loadRules(rulesDir);
  if (!loaded.ok) throw new Error(`rules did not load: ${JSON.stringify(loaded.errors)}`);
  const built = buildSnapshot(loaded.ruleSet);
  if (!built.ok) throw new Error(built.errors.join('\n'));
  const snapshot = built.snapshot;
  const events = new EventBus();
  const log = new EventLog();
  events.addSink(log);
  const store = await QuarantineStore.openIn(`${rulesDir}/.state`);
  const quarantines = new QuarantineController(store, events, new FlowRegistry({ maxTotal: 100, maxPerAgent: 100 }), DEFAULT_QUARANTINE_CONFIG);
  const service = new DnsService({
    policy: () => snapshot,
    quarantines,
    events,
    names: new NameMemory(),
    upstream: new UpstreamForwarder(upstreams, 2_000),
    detector: new DnsTunnelDetector(),
    hosts: new Map(),
    maxTtlSeconds: 300,
    inFlight: { perAgent: 64, total: 256 },
    ...extra,
  });
  return { service, log };
}
