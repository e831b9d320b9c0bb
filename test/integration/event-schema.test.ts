/**
 * The committed JSON Schema of events (schema/events/v1) against the catalogue of event names and
 * against real events from a real proxy driven through every path; and it must refuse malformed ones.
 */
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { EVENT_NAMES } from '../../src/events/catalogue.js';
import { EVENT_TOP_LEVEL_KEYS, eventJson } from '../../src/events/chain.js';
import { LogVerifier } from '../../src/events/log-verifier.js';
import type { ChokepointEvent } from '../../src/events/types.js';
import { eventsOfEveryPath } from '../helpers/event-flows.js';
import { EVENT_SCHEMA_FILE, eventSchemaErrors as errorsOf } from '../helpers/schemas.js';

interface Branch {
  if: { properties: { event: { properties: { action: { const?: string; enum?: string[] } } } } };
  then: { $ref: string };
}
interface EventSchema {
  properties: { event: { properties: { action: { enum: string[] } } } } & Record<string, unknown>;
  allOf: Branch[];
  $defs: { events: Record<string, unknown> };
}

const schema = JSON.parse(readFileSync(EVENT_SCHEMA_FILE, 'utf8')) as EventSchema;

function actionsOf(branch: Branch): string[] {
  const action = branch.if.properties.event.properties.action;
  return action.const !== undefined ? [action.const] : (action.enum ?? []);
}

describe('the event schema and the catalogue', () => {
  it('lists exactly the catalogue names in event.action', () => {
    expect([...schema.properties.event.properties.action.enum].sort()).toEqual([...EVENT_NAMES].sort());
  });

  it('lists as top-level members exactly what the hash chain covers, plus the sink\'s log.level', () => {
    expect(Object.keys(schema.properties).sort()).toEqual([...EVENT_TOP_LEVEL_KEYS, 'log.level'].sort());
  });

  it('has exactly one rule per event name, each pointing at a definition that exists', () => {
    for (const name of EVENT_NAMES) {
      const branches = schema.allOf.filter((branch) => actionsOf(branch).includes(name));
      expect(branches, `rules for ${name}`).toHaveLength(1);
      const target = branches[0]?.then.$ref.replace('#/$defs/events/', '') ?? '';
      expect(schema.$defs.events[target], `${name} → ${target}`).toBeDefined();
    }
  });
});

describe('real events from a real proxy', () => {
  let events: ChokepointEvent[];
  beforeAll(async () => {
    events = await eventsOfEveryPath();
  }, 60_000);

  it('drove every path it means to', () => {
    const seen = new Set(events.map((event) => event.event.action));
    for (const name of ['proxy.started', 'flow.allowed', 'flow.alerted', 'flow.denied', 'flow.closed', 'detection.ssh_not_allowed', 'detection.stratum', 'agent.quarantined', 'agent.released', 'config.reloaded', 'config.rejected', 'proxy.heartbeat', 'proxy.stopped',
      'dns.query', 'detection.dns_tunnel', 'marker.set', 'flow.killed', 'detection.budget_exceeded', 'quarantine.webhook_delivered', 'quarantine.webhook_failed',
      'sink.error', 'ssh.host_key', 'ssh.upstream_failed']) {
      expect(seen, name).toContain(name);
    }
    expect(events.some((event) => event.rule?.id === 'auth.invalid-credentials')).toBe(true);
    expect(events.some((event) => event.rule?.id === 'quarantine')).toBe(true);
    expect(events.some((event) => event.chokepoint.entry === 'socks5')).toBe(true);
  });

  it('validates every one of them, as objects and as the JSON a sink writes', () => {
    for (const event of events) {
      expect(errorsOf(event), `${event.event.action} #${event.event.sequence}`).toBe('');
      const line = { 'log.level': 'info', ...(JSON.parse(JSON.stringify(event)) as object) };
      expect(errorsOf(line)).toBe('');
    }
  });

  it('forms one intact hash chain that verify-log accepts, and an edited dns.* field breaks it', () => {
    const verify = (lines: string[]): string[] => {
      const verifier = new LogVerifier();
      lines.forEach((text, index) => verifier.push(text, { file: 'events.jsonl', line: index + 1 }));
      return verifier.finish().problems.map((finding) => finding.message);
    };
    const lines = events.map((event) => eventJson(event));
    expect(verify(lines)).toEqual([]);
    const index = events.findIndex((event) => event.event.action === 'dns.query' && event.dns?.question.name === 'web.test');
    const edited = JSON.parse(lines[index] ?? '{}') as ChokepointEvent;
    if (edited.dns) edited.dns.question.name = 'elsewhere.test';
    const tampered = [...lines];
    tampered[index] = JSON.stringify(edited);
    expect(verify(tampered).join('\n')).toContain('was edited');
  });

  it('gives every detection and alert a severity above informational, and the lifecycle informational', () => {
    for (const event of events) {
      if (event.event.action.startsWith('detection.') || event.event.action === 'agent.quarantined') expect(event.event.severity).toBeGreaterThanOrEqual(2);
      if (['flow.allowed', 'proxy.started', 'proxy.stopped', 'proxy.heartbeat'].includes(event.event.action)) expect(event.chokepoint.severity_label).toBe('informational');
    }
    const severityOf = (action: string): number | undefined => events.find((event) => event.event.action === action)?.event.severity;
    expect([severityOf('sink.error'), severityOf('quarantine.webhook_failed'), severityOf('ssh.upstream_failed'), severityOf('flow.killed')]).toEqual([3, 3, 3, 2]);
    expect([severityOf('dns.query'), severityOf('marker.set'), severityOf('ssh.host_key'), severityOf('quarantine.webhook_delivered')]).toEqual([1, 1, 1, 1]);
    const stratum = events.find((event) => event.event.action === 'detection.stratum');
    expect(stratum?.event.severity).toBe(5);
    expect(stratum?.chokepoint.severity_label).toBe('critical');
  });

  it('refuses malformed events', () => {
    const closed = events.find((event) => event.event.action === 'flow.closed') as ChokepointEvent;
    const detection = events.find((event) => event.event.action === 'detection.stratum') as ChokepointEvent;
    const named = (action: string): ChokepointEvent => events.find((event) => event.event.action === action && (action !== 'dns.query' || event.dns?.question.name === 'web.test')) as ChokepointEvent;
    const [query, budget, killed, sinkError] = ['dns.query', 'detection.budget_exceeded', 'flow.killed', 'sink.error'].map(named) as [ChokepointEvent, ChokepointEvent, ChokepointEvent, ChokepointEvent];
    const copy = (event: ChokepointEvent): ChokepointEvent => JSON.parse(JSON.stringify(event)) as ChokepointEvent;
    const broken: Array<[string, (event: ChokepointEvent) => ChokepointEvent, ChokepointEvent]> = [
      ['no sequence', (e) => (Reflect.deleteProperty(e.event, 'sequence'), e), closed],
      ['severity out of range', (e) => ((e.event.severity = 9), e), closed],
      ['unknown action', (e) => (Object.assign(e.event, { action: 'flow.teleported' }), e), closed],
      ['unknown top-level field', (e) => (Object.assign(e, { extra: 1 }), e), closed],
      ['flow.closed without duration', (e) => (Reflect.deleteProperty(e.event, 'duration'), e), closed],
      ['a port that is not one', (e) => (Object.assign(e.destination ?? {}, { port: 70000 }), e), closed],
      ['an address that is not one', (e) => (Object.assign(e.source ?? {}, { ip: '300.1.1.1' }), e), closed],
      ['timestamp without milliseconds', (e) => ((e['@timestamp'] = '2026-11-26T18:30:11Z'), e), closed],
      ['a chain hash that is not hex SHA-256', (e) => (Object.assign(e.chokepoint.chain ?? {}, { hash: 'abc' }), e), closed],
      ['no chain', (e) => (Reflect.deleteProperty(e.chokepoint, 'chain'), e), closed],
      ['a detection without chokepoint.detection', (e) => (Reflect.deleteProperty(e.chokepoint, 'detection'), e), detection],
      ['a detection with an unknown confidence', (e) => (Object.assign(e.chokepoint.detection ?? {}, { confidence: 'certain' }), e), detection],
      ['a DNS query without dns', (e) => (Reflect.deleteProperty(e, 'dns'), e), query],
      ['a DNS question with an unknown field', (e) => (Object.assign(e.dns?.question ?? {}, { class: 'IN' }), e), query],
      ['a DNS answer address that is not one', (e) => (Object.assign(e.dns ?? {}, { resolved_ip: ['not-an-ip'] }), e), query],
      ['a budget detection without its budget', (e) => (Reflect.deleteProperty(e.chokepoint.details ?? {}, 'budget'), e), budget],
      ['a kill without its flow', (e) => (Reflect.deleteProperty(e.chokepoint, 'flow_id'), e), killed],
      ['a sink error with an unknown detail', (e) => (Object.assign(e.chokepoint.details ?? {}, { token: 'secret' }), e), sinkError],
    ];
    for (const [what, breakIt, original] of broken) {
      expect(errorsOf(copy(original)), `untouched before: ${what}`).toBe('');
      expect(errorsOf(breakIt(copy(original))), what).not.toBe('');
    }
  });
});
