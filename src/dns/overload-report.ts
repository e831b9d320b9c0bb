/**
 * The counted events of the DNS service: queries refused for overload (`dns.overloaded`, per agent) and
 * malformed or unanswerable packets from sources that are not agents (`dns.malformed`), whose addresses
 * may be spoofed and whose number is the sender's to choose.
 */
import type { EventBus } from '../events/bus.js';
import { CountedReporter } from './counted-reporter.js';

export interface OverloadRefusal {
  agent: string;
  agentMode: 'enforce' | 'audit';
  scope: 'agent' | 'total';
  limit: number;
  client: { ip: string; port: number };
}

export function overloadReporter(events: EventBus, intervalMs: number): CountedReporter<OverloadRefusal> {
  return new CountedReporter<OverloadRefusal>(intervalMs, (refusal, count) => {
    const scope = refusal.scope === 'agent' ? `agent ${refusal.agent}` : 'all agents';
    events.emit({
      name: 'dns.overloaded',
      kind: 'alert',
      outcome: 'failure',
      agent: refusal.agent,
      agentMode: refusal.agentMode,
      source: { ip: refusal.client.ip, port: refusal.client.port },
      protocol: 'dns',
      reason: `${count} DNS ${count === 1 ? 'query' : 'queries'} answered SERVFAIL: ${refusal.limit} upstream queries already in flight for ${scope}`,
      details: { refused: count, scope: refusal.scope, limit: refusal.limit, interval_ms: intervalMs },
    });
  });
}

export interface MalformedPacket {
  client: { ip: string; port: number; transport: 'udp' | 'tcp' };
  reason: string;
  answered: boolean;
}

export function malformedReporter(events: EventBus, intervalMs: number): CountedReporter<MalformedPacket> {
  return new CountedReporter<MalformedPacket>(intervalMs, (packet, count) => {
    events.emit({
      name: 'dns.malformed',
      kind: 'event',
      outcome: 'failure',
      source: { ip: packet.client.ip, port: packet.client.port },
      transport: packet.client.transport,
      protocol: 'dns',
      reason: `${count} malformed or unanswerable DNS ${count === 1 ? 'packet' : 'packets'} from sources that are not agents; the latest: ${packet.reason}`,
      details: { packets: count, latest_answered: packet.answered, interval_ms: intervalMs },
    });
  });
}
