/**
 * The OCSF mapping (src/events/ocsf.ts) of real events from a real proxy driven through every path,
 * checked against the OCSF 1.3.0 subset schema in schema/ocsf/ and against what each event said.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { EVENT_NAMES } from '../../src/events/catalogue.js';
import { OCSF_VERSION, PRODUCT, ocsfClassOf, toOcsf, type OcsfEvent, type OcsfObject } from '../../src/events/ocsf.js';
import type { ChokepointEvent } from '../../src/events/types.js';
import { REPO_ROOT } from '../helpers/cli.js';
import { eventsOfEveryPath } from '../helpers/event-flows.js';
import { ocsfSchemaErrors as errorsOf } from '../helpers/schemas.js';

const field = (object: OcsfObject, key: string): OcsfObject => object[key] as OcsfObject;

describe('OCSF classes', () => {
  it('gives every event name a class: 4001 for flows, 4003 for DNS, 4007 for intercepted SSH, 2004 for findings, 6002 for the proxy', () => {
    const classOf = (name: string): number => {
      if (name.startsWith('flow.')) return 4001;
      if (name === 'dns.query') return 4003;
      // The host key is the proxy's own (no connection); the other ssh.* events happen on a connection.
      if (name.startsWith('ssh.') && name !== 'ssh.host_key') return 4007;
      if (name.startsWith('detection.') || name.startsWith('agent.')) return 2004;
      return 6002;
    };
    for (const name of EVENT_NAMES) {
      const expected = classOf(name);
      expect(ocsfClassOf(name).classUid, name).toBe(expected);
    }
  });

  it('names the product version package.json has', () => {
    const pkg = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
    expect(PRODUCT.version).toBe(pkg.version);
  });
});

describe('real events mapped to OCSF', () => {
  let events: ChokepointEvent[];
  let mapped: Array<{ event: ChokepointEvent; ocsf: OcsfEvent }>;
  beforeAll(async () => {
    events = await eventsOfEveryPath();
    mapped = events.map((event) => ({ event, ocsf: toOcsf(event) }));
  }, 60_000);

  it('validate against the OCSF subset schema, with type_uid = class_uid * 100 + activity_id', () => {
    for (const { event, ocsf } of mapped) {
      const what = `${event.event.action} #${event.event.sequence}`;
      expect(errorsOf(ocsf), what).toBe('');
      expect(errorsOf(JSON.parse(JSON.stringify(ocsf))), what).toBe('');
      expect(ocsf.type_uid, what).toBe(ocsf.class_uid * 100 + ocsf.activity_id);
      expect(ocsf.time).toBe(new Date(event['@timestamp']).getTime());
      expect(ocsf.severity_id).toBe(event.event.severity);
      expect(ocsf.metadata).toMatchObject({ version: OCSF_VERSION, uid: String(event.event.sequence), product: PRODUCT });
    }
  });

  it('maps a closed flow: endpoints, agent, bytes each way, duration, decision', () => {
    const { event, ocsf } = mapped.find(({ event }) => event.event.action === 'flow.closed' && (event.source?.bytes ?? 0) > 0) ?? {};
    if (!event || !ocsf) throw new Error('no closed flow with bytes');
    expect(ocsf).toMatchObject({ class_uid: 4001, activity_id: 2, category_uid: 4, status_id: 1, action_id: 1, disposition_id: 1 });
    expect(ocsf['src_endpoint']).toEqual({ ip: event.source?.ip, port: event.source?.port });
    expect(field(ocsf, 'dst_endpoint')['port']).toBe(event.destination?.port);
    expect(ocsf['traffic']).toEqual({ bytes_out: event.source?.bytes, bytes_in: event.destination?.bytes, bytes: (event.source?.bytes ?? 0) + (event.destination?.bytes ?? 0) });
    expect(ocsf['duration']).toBe(Math.round((event.event.duration ?? 0) / 1e6));
    expect(field(field(ocsf, 'actor'), 'user')['name']).toBe(event.chokepoint.agent);
    expect(field(ocsf, 'connection_info')).toMatchObject({ protocol_name: 'tcp', direction_id: 2, uid: event.chokepoint.flow_id });
    expect(field(ocsf.unmapped, 'rule')).toEqual(event.rule);
  });

  it('maps a denied flow to Refuse, Denied, Blocked, with the reason as message and the tags unmapped', () => {
    const { event, ocsf } = mapped.find(({ event }) => event.event.action === 'flow.denied' && event.rule?.id === 'default-deny') ?? {};
    if (!event || !ocsf) throw new Error('no default-deny flow');
    expect(ocsf).toMatchObject({ class_uid: 4001, activity_id: 5, type_uid: 400105, status_id: 2, action_id: 2, disposition_id: 2, message: event.event.reason });
    expect(field(ocsf, 'dst_endpoint')['hostname']).toBe('denied.example');
    const tagged = mapped.find(({ event }) => event.labels?.['run'] === 'r1');
    expect(tagged && field(tagged.ocsf.unmapped, 'labels')).toEqual({ run: 'r1', episode: '4' });
  });

  it('maps a quarantining detection to a Detection Finding with confidence, disposition and evidence', () => {
    const { event, ocsf } = mapped.find(({ event }) => event.event.action === 'detection.stratum') ?? {};
    if (!event || !ocsf) throw new Error('no stratum detection');
    expect(ocsf).toMatchObject({ class_uid: 2004, category_uid: 2, activity_id: 1, type_uid: 200401, severity_id: 5, severity: 'Critical', confidence_id: 3, disposition_id: 3, disposition: 'Quarantined', action_id: 2 });
    expect(field(ocsf, 'finding_info')).toMatchObject({ title: 'detection.stratum', types: ['stratum'], desc: event.chokepoint.detection?.evidence });
    const evidences = ocsf['evidences'] as OcsfObject[];
    expect(field(evidences[0] ?? {}, 'dst_endpoint')['hostname']).toBe('pool.test');
    expect(field(field(ocsf.unmapped, 'chokepoint'), 'classification')).toEqual(event.chokepoint.classification);
    const quarantine = mapped.find(({ event }) => event.event.action === 'agent.quarantined')?.ocsf;
    expect(quarantine).toMatchObject({ class_uid: 2004, activity_id: 1, disposition_id: 3, finding_info: { uid: 'quarantine:miner' } });
    const release = mapped.find(({ event }) => event.event.action === 'agent.released')?.ocsf;
    expect(release).toMatchObject({ class_uid: 2004, activity_id: 3, type_uid: 200403, status_id: 4, finding_info: { uid: 'quarantine:miner' } });
  });

  it('maps the proxy lifecycle to Application Lifecycle with the product as app', () => {
    const byAction = (action: string): OcsfEvent | undefined => mapped.find(({ event }) => event.event.action === action)?.ocsf;
    expect(byAction('proxy.started')).toMatchObject({ class_uid: 6002, category_uid: 6, activity_id: 3, type_uid: 600203, app: PRODUCT });
    expect(byAction('proxy.stopped')).toMatchObject({ class_uid: 6002, activity_id: 4 });
    expect(byAction('config.reloaded')).toMatchObject({ class_uid: 6002, activity_id: 8, status_id: 1 });
    expect(byAction('config.rejected')).toMatchObject({ class_uid: 6002, activity_id: 8, status_id: 2 });
    expect(byAction('proxy.heartbeat')).toMatchObject({ class_uid: 6002, activity_id: 99, activity_name: 'Heartbeat' });
  });

  it('maps a DNS query to DNS Activity: query, answers, rcode, over UDP', () => {
    const { event, ocsf } = mapped.find(({ event }) => event.event.action === 'dns.query' && event.dns?.question.name === 'web.test') ?? {};
    if (!event || !ocsf) throw new Error('no answered DNS query');
    expect(ocsf).toMatchObject({ class_uid: 4003, category_uid: 4, activity_id: 6, type_uid: 400306, rcode_id: 0, rcode: 'NoError', status_id: 1 });
    expect(ocsf['query']).toEqual({ hostname: 'web.test', type: 'A', class: 'IN', packet_uid: event.dns?.id });
    expect(ocsf['answers']).toEqual([{ rdata: '127.0.0.1', type: 'A', class: 'IN' }]);
    expect(field(ocsf, 'connection_info')).toMatchObject({ protocol_name: 'udp', protocol_num: 17 });
    expect(field(ocsf, 'dst_endpoint')).toEqual({ hostname: 'web.test', port: 53 });
    const refused = mapped.find(({ event }) => event.event.action === 'dns.query' && event.rule?.id === 'detection.dns_tunnel')?.ocsf;
    expect(refused).toMatchObject({ class_uid: 4003, rcode_id: 5, rcode: 'Refused', action_id: 2, disposition_id: 2 });
    const tunnel = mapped.find(({ event }) => event.event.action === 'detection.dns_tunnel')?.ocsf;
    expect(tunnel).toMatchObject({ class_uid: 2004, finding_info: { types: ['dns_tunnel'] }, disposition_id: 2 });
  });

  it('maps a kill to Network Activity Reset, a failed SSH interception to SSH Activity Fail, and the rest to Application Lifecycle', () => {
    const byAction = (action: string): OcsfEvent | undefined => mapped.find(({ event }) => event.event.action === action)?.ocsf;
    expect(byAction('flow.killed')).toMatchObject({ class_uid: 4001, activity_id: 3, activity_name: 'Reset', type_uid: 400103 });
    expect(byAction('ssh.upstream_failed')).toMatchObject({ class_uid: 4007, category_uid: 4, activity_id: 4, type_uid: 400704, status_id: 2 });
    expect(byAction('detection.budget_exceeded')).toMatchObject({ class_uid: 2004, finding_info: { types: ['budget_exceeded'] }, disposition_id: 1 });
    for (const action of ['ssh.host_key', 'sink.error', 'quarantine.webhook_delivered', 'quarantine.webhook_failed', 'marker.set']) {
      expect(byAction(action), action).toMatchObject({ class_uid: 6002, activity_id: 99, activity_name: action, app: PRODUCT });
    }
  });

  it('rejects objects that break the OCSF subset', () => {
    const { ocsf } = mapped.find(({ event }) => event.event.action === 'flow.closed') ?? {};
    if (!ocsf) throw new Error('no closed flow');
    const copy = (): OcsfEvent => JSON.parse(JSON.stringify(ocsf)) as OcsfEvent;
    const wrongType = copy();
    wrongType.type_uid = 400101;
    expect(errorsOf(wrongType)).not.toBe('');
    const noMetadataProduct = copy();
    delete noMetadataProduct.metadata['product'];
    expect(errorsOf(noMetadataProduct)).not.toBe('');
    const noEndpoint = copy();
    delete noEndpoint['dst_endpoint'];
    expect(errorsOf(noEndpoint)).not.toBe('');
    const finding = mapped.find(({ event }) => event.event.action === 'detection.stratum')?.ocsf;
    const noInfo = JSON.parse(JSON.stringify(finding)) as OcsfEvent;
    delete noInfo['finding_info'];
    expect(errorsOf(noInfo)).not.toBe('');
    const dns = mapped.find(({ event }) => event.event.action === 'dns.query')?.ocsf;
    const noQuery = JSON.parse(JSON.stringify(dns)) as OcsfEvent;
    delete noQuery['query'];
    expect(errorsOf(noQuery)).not.toBe('');
  });
});
