import { EVENT_SCHEMA_VERSION } from './catalogue.js';
import { dnsActivityFields } from './ocsf-dns.js';
import type { ChokepointEvent, EndpointFields } from './types.js';

/**
 * ChokepointEvent → OCSF 1.3.0, a pure function the SIEM sinks call for `format: ocsf`. Five classes:
 * Network Activity (4001) for flow.*, DNS Activity (4003) for dns.query, SSH Activity (4007) for what
 * happens on an intercepted SSH connection, Detection Finding (2004) for detection.* and quarantine, and
 * Application Lifecycle (6002) for the proxy's own life (start, stop, reloads, heartbeats, listener and
 * sink errors, webhooks, markers, its SSH host key). What OCSF has no attribute for goes to `unmapped`,
 * nothing is dropped. The table is in
 * docs/ocsf-mapping.md; schema/ocsf/ holds the subset of OCSF these objects are checked against.
 */

export const OCSF_VERSION = '1.3.0';

/** Chokepoint as OCSF `product` (metadata.product, and `app` of lifecycle events). */
export const PRODUCT = { name: 'Chokepoint', vendor_name: 'Chokepoint', version: '0.1.0' } as const;

export type OcsfObject = Record<string, unknown>;

export interface OcsfEvent extends OcsfObject {
  class_uid: number;
  class_name: string;
  category_uid: number;
  category_name: string;
  activity_id: number;
  activity_name: string;
  type_uid: number;
  type_name: string;
  severity_id: number;
  severity: string;
  time: number;
  status_id: number;
  status: string;
  metadata: OcsfObject;
  unmapped: OcsfObject;
}

const SEVERITY_NAMES = ['Unknown', 'Informational', 'Low', 'Medium', 'High', 'Critical'];

interface ClassChoice {
  classUid: number;
  className: string;
  categoryUid: number;
  categoryName: string;
  activityId: number;
  activityName: string;
}

const NETWORK = { classUid: 4001, className: 'Network Activity', categoryUid: 4, categoryName: 'Network Activity' };
const DNS = { classUid: 4003, className: 'DNS Activity', categoryUid: 4, categoryName: 'Network Activity' };
const SSH = { classUid: 4007, className: 'SSH Activity', categoryUid: 4, categoryName: 'Network Activity' };
const FINDING = { classUid: 2004, className: 'Detection Finding', categoryUid: 2, categoryName: 'Findings' };
const LIFECYCLE = { classUid: 6002, className: 'Application Lifecycle', categoryUid: 6, categoryName: 'Application Activity' };

/** The OCSF class and activity of each event name (detections: every `detection.*`). */
export function ocsfClassOf(action: string): ClassChoice {
  if (action.startsWith('detection.') || action === 'agent.quarantined') return { ...FINDING, activityId: 1, activityName: 'Create' };
  switch (action) {
    case 'flow.allowed':
    case 'flow.alerted':
      return { ...NETWORK, activityId: 1, activityName: 'Open' };
    case 'flow.denied':
      return { ...NETWORK, activityId: 5, activityName: 'Refuse' };
    case 'flow.closed':
      return { ...NETWORK, activityId: 2, activityName: 'Close' };
    // Ended by the proxy on an operator's word: OCSF's "terminated by a middle device"; flow.closed follows.
    case 'flow.killed':
      return { ...NETWORK, activityId: 3, activityName: 'Reset' };
    // One record holds the query and the answer Chokepoint gave: bidirectional traffic.
    case 'dns.query':
      return { ...DNS, activityId: 6, activityName: 'Traffic' };
    case 'ssh.command':
      return { ...SSH, activityId: 99, activityName: 'Command' };
    case 'ssh.refused':
      return { ...SSH, activityId: 5, activityName: 'Refuse' };
    case 'ssh.upstream_failed':
      return { ...SSH, activityId: 4, activityName: 'Fail' };
    case 'agent.released':
      return { ...FINDING, activityId: 3, activityName: 'Close' };
    case 'proxy.started':
      return { ...LIFECYCLE, activityId: 3, activityName: 'Start' };
    case 'proxy.stopped':
      return { ...LIFECYCLE, activityId: 4, activityName: 'Stop' };
    case 'config.reloaded':
    case 'config.rejected':
      return { ...LIFECYCLE, activityId: 8, activityName: 'Update' };
    case 'proxy.heartbeat':
      return { ...LIFECYCLE, activityId: 99, activityName: 'Heartbeat' };
    default:
      // listener.error, sink.*, quarantine.webhook_*, marker.set, ssh.host_key and any lifecycle event
      // added later: the proxy's own life, activity "Other" named after the event.
      return { ...LIFECYCLE, activityId: 99, activityName: action };
  }
}

export function toOcsf(event: ChokepointEvent): OcsfEvent {
  const choice = ocsfClassOf(event.event.action);
  const severityId = event.event.severity;
  const status = statusOf(event);
  const cp = event.chokepoint;
  const base: OcsfEvent = {
    class_uid: choice.classUid,
    class_name: choice.className,
    category_uid: choice.categoryUid,
    category_name: choice.categoryName,
    activity_id: choice.activityId,
    activity_name: choice.activityName,
    type_uid: choice.classUid * 100 + choice.activityId,
    type_name: `${choice.className}: ${choice.activityName}`,
    severity_id: severityId,
    severity: SEVERITY_NAMES[severityId] ?? 'Unknown',
    time: Date.parse(event['@timestamp']),
    status_id: status.id,
    status: status.name,
    metadata: {
      product: { ...PRODUCT },
      version: OCSF_VERSION,
      uid: String(event.event.sequence),
      event_code: event.event.action,
      original_time: event['@timestamp'],
      ...(cp.flow_id ? { correlation_uid: cp.flow_id } : {}),
      log_name: 'chokepoint',
    },
    ...(event.event.reason !== undefined ? { message: event.event.reason } : {}),
    ...(cp.agent ? { actor: { user: { name: cp.agent, uid: cp.agent, type_id: 99, type: 'Agent' } } } : {}),
    unmapped: unmappedOf(event),
  };
  if (choice.classUid === NETWORK.classUid) return { ...base, ...networkFields(event) };
  if (choice.classUid === DNS.classUid) return { ...base, ...networkFields(event), ...dnsActivityFields(event) };
  if (choice.classUid === SSH.classUid) return { ...base, ...networkFields(event), ...sshFields(event) };
  if (choice.classUid === FINDING.classUid) return { ...base, ...findingFields(event, choice.activityId) };
  return { ...base, app: { ...PRODUCT } };
}

function statusOf(event: ChokepointEvent): { id: number; name: string } {
  const outcome = event.event.outcome ?? (event.event.action === 'flow.denied' ? 'failure' : event.event.action.startsWith('flow.') ? 'success' : undefined);
  if (outcome === 'success') return { id: 1, name: 'Success' };
  if (outcome === 'failure') return { id: 2, name: 'Failure' };
  return { id: 0, name: 'Unknown' };
}

/** Network Activity: endpoints, the TCP connection, bytes each way, the decision. */
function networkFields(event: ChokepointEvent): OcsfObject {
  const traffic = trafficOf(event);
  const blocked = event.chokepoint.action === 'deny' && event.chokepoint.enforced !== false;
  const duration = event.event.duration;
  return {
    src_endpoint: endpointOf(event.source),
    // OCSF wants a destination; a refusal before any target was read (bad SOCKS5 credentials) has none.
    dst_endpoint: endpointOf(event.destination),
    connection_info: connectionOf(event),
    ...(traffic ? { traffic } : {}),
    ...(duration !== undefined ? { duration: Math.round(duration / 1e6) } : {}),
    action_id: blocked ? 2 : 1,
    action: blocked ? 'Denied' : 'Allowed',
    disposition_id: blocked ? 2 : 1,
    disposition: blocked ? 'Blocked' : 'Allowed',
    ...(event.url?.full ? { url: { url_string: event.url.full } } : {}),
    ...(event.chokepoint.classification?.tls ? { tls: tlsOf(event) } : {}),
  };
}

/** Detection Finding: what was found (finding_info), how sure, what was done, and on which flow. */
function findingFields(event: ChokepointEvent, activityId: number): OcsfObject {
  const detection = event.chokepoint.detection;
  const action = event.event.action;
  const kind = detection?.kind ?? action.replace(/^agent\./, '');
  const enforced = event.chokepoint.enforced !== false;
  const outcome = detection ? detection.action : action === 'agent.quarantined' ? 'quarantine' : undefined;
  const disposition =
    !enforced || outcome === 'alert' || outcome === undefined
      ? { id: 1, name: 'Allowed' }
      : outcome === 'quarantine'
        ? { id: 3, name: 'Quarantined' }
        : { id: 2, name: 'Blocked' };
  const confidence = detection ? { high: 3, medium: 2, low: 1 }[detection.confidence] : undefined;
  const evidence = event.source || event.destination ? [{ src_endpoint: endpointOf(event.source), dst_endpoint: endpointOf(event.destination), connection_info: connectionOf(event) }] : undefined;
  return {
    finding_info: {
      // A quarantine is one finding per agent: its release (agent.released) closes that same uid.
      uid: action.startsWith('agent.') ? `quarantine:${event.chokepoint.agent ?? ''}` : `${event.chokepoint.flow_id ?? 'proxy'}:${event.event.sequence}`,
      title: action,
      ...(detection ? { desc: detection.evidence } : event.event.reason !== undefined ? { desc: event.event.reason } : {}),
      types: [kind],
      analytic: { name: kind, uid: `chokepoint.${kind}`, type_id: 1, type: 'Rule' },
      created_time: Date.parse(event['@timestamp']),
    },
    ...(confidence !== undefined && detection ? { confidence_id: confidence, confidence: capitalise(detection.confidence) } : {}),
    action_id: disposition.id === 1 ? 1 : 2,
    action: disposition.id === 1 ? 'Allowed' : 'Denied',
    disposition_id: disposition.id,
    disposition: disposition.name,
    ...(evidence ? { evidences: evidence } : {}),
    ...(activityId === 3 ? { status_id: 4, status: 'Resolved' } : { status_id: 1, status: 'New' }),
  };
}

function endpointOf(endpoint: EndpointFields | undefined): OcsfObject {
  if (!endpoint) return {};
  return {
    ...(endpoint.ip ? { ip: endpoint.ip } : {}),
    ...(endpoint.port !== undefined ? { port: endpoint.port } : {}),
    ...(endpoint.domain ? { hostname: endpoint.domain } : {}),
  };
}

/** Opened by the agent towards the outside; TCP, or UDP for DNS queries over UDP. */
function connectionOf(event: ChokepointEvent): OcsfObject {
  const transport = event.network?.transport ?? 'tcp';
  return {
    protocol_name: transport,
    protocol_num: transport === 'udp' ? 17 : 6,
    direction_id: 2,
    direction: 'Outbound',
    ...(event.chokepoint.flow_id ? { uid: event.chokepoint.flow_id } : {}),
  };
}

/** `bytes_out` = what the agent sent (ECS source.bytes), `bytes_in` = what it received. */
function trafficOf(event: ChokepointEvent): OcsfObject | undefined {
  const out = event.source?.bytes;
  const inbound = event.destination?.bytes;
  if (out === undefined && inbound === undefined) return undefined;
  return { ...(out !== undefined ? { bytes_out: out } : {}), ...(inbound !== undefined ? { bytes_in: inbound } : {}), bytes: (out ?? 0) + (inbound ?? 0) };
}

function tlsOf(event: ChokepointEvent): OcsfObject {
  const tls = event.chokepoint.classification?.tls ?? {};
  return {
    ...(tls.sni ? { sni: tls.sni } : {}),
    ...(tls.alpn && tls.alpn.length > 0 ? { alpn: tls.alpn.join(',') } : {}),
    ...(tls.ja3 ? { ja3_hash: { algorithm_id: 1, algorithm: 'MD5', value: tls.ja3 } } : {}),
  };
}

/** SSH Activity: the HASSH fingerprints read from the handshake, when the flow was classified. */
function sshFields(event: ChokepointEvent): OcsfObject {
  const ssh = event.chokepoint.classification?.ssh;
  const hassh = (value: string | undefined): OcsfObject | undefined => (value ? { fingerprint: { algorithm_id: 1, algorithm: 'MD5', value } } : undefined);
  const client = hassh(ssh?.hassh);
  const server = hassh(ssh?.hassh_server);
  return { ...(client ? { client_hassh: client } : {}), ...(server ? { server_hassh: server } : {}) };
}

/** Everything the classes above have no attribute for, under the ECS names it had. */
function unmappedOf(event: ChokepointEvent): OcsfObject {
  const { schema_version: _version, severity_label: _label, ...chokepoint } = event.chokepoint;
  return {
    event_kind: event.event.kind,
    schema_version: EVENT_SCHEMA_VERSION,
    chokepoint,
    ...(event.rule ? { rule: event.rule } : {}),
    ...(event.labels ? { labels: event.labels } : {}),
    ...(event.network?.protocol ? { network_protocol: event.network.protocol } : {}),
    ...(event.url?.method || event.url?.status !== undefined ? { url: event.url } : {}),
    ...(event.error ? { error: event.error } : {}),
    // DNS Activity maps the query, answers and response code; other classes keep ECS dns.* as it was.
    ...(event.dns && event.event.action !== 'dns.query' ? { dns: event.dns } : {}),
  };
}

function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
