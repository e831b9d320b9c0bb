import type { FlowClassification } from '../inspect/flow-classifier.js';
import type { Confidence, Detection, ProtocolName } from '../inspect/types.js';
import path from 'node:path';
import { hostOfHostHeader, sameHost } from '../net/host-header.js';
import { intelForHost } from './intel-match.js';
import { detectionAction, type DetectionAction, type DetectionKind, type Rule, type RuleSet } from './types.js';

/**
 * The second decision of a flow, once its bytes are classified: does what the agent actually speaks
 * match what its rule allows, and what do the detections call for? Pure: the pipeline supplies the
 * classification and acts on the findings (alert, deny the flow, or quarantine the agent).
 */

export interface ProtocolFinding {
  kind: DetectionKind;
  action: DetectionAction;
  confidence: Confidence;
  /** What was seen, for the analyst. */
  evidence: string;
  /** What the agent is told when this finding refuses its flow. */
  reason: string;
  detection?: Detection;
}

export interface ProtocolContext {
  ruleSet: RuleSet;
  /** The host the agent asked for (normalised), undefined for IP-literal targets. */
  host?: string;
  port: number;
  /** The rule that allowed the target (undefined for audit-mode or built-in decisions). */
  rule?: Rule;
  classification: FlowClassification;
}

/**
 * Protocols a rule allows when it does not list any: the port's usual protocol for the well-known
 * web and SSH ports, anything but SSH elsewhere (an SSH session is a remote shell and a tunnel
 * factory, so it is only ever allowed by name or on port 22).
 */
export function allowedProtocols(rule: Rule | undefined, port: number): ReadonlySet<ProtocolName> | 'any-but-ssh' {
  if (rule?.protocols && rule.protocols.length > 0) return new Set(rule.protocols);
  if (port === 443) return new Set(['tls']);
  if (port === 80) return new Set(['http', 'websocket']);
  if (port === 22) return new Set(['ssh']);
  return 'any-but-ssh';
}

/** Findings from what the classified protocol and its facts say about the requested target. */
export function judgeProtocol(context: ProtocolContext): ProtocolFinding[] {
  const { classification, port } = context;
  const findings: ProtocolFinding[] = [];
  const protocol = classification.protocol;
  const allowed = allowedProtocols(context.rule, port);
  const where = `${context.host ?? 'this address'}:${port}`;
  if (protocol === 'ssh' && (allowed === 'any-but-ssh' || !allowed.has('ssh'))) {
    findings.push(finding(context.ruleSet, 'ssh_not_allowed', 'high', `SSH (${classification.ssh?.clientBanner ?? 'client banner not seen'}) to ${where}`,
      `SSH to ${where} is not allowed for this agent; ask for a rule with protocols: [ssh]`));
  } else if (allowed !== 'any-but-ssh' && !protocolAllowed(protocol, allowed)) {
    findings.push(finding(context.ruleSet, 'protocol_not_allowed', 'high', `${protocol} spoken to ${where}, rule allows ${[...allowed].join(', ')}`,
      `${where} is allowed only for ${[...allowed].join(', ')}, but this connection speaks ${protocol}`));
  }
  const tls = classification.tls;
  if (protocol === 'tls' && tls && context.host !== undefined) {
    if (tls.sni === undefined) {
      findings.push(finding(context.ruleSet, 'missing_sni', 'medium', `TLS ClientHello without SNI on a tunnel to ${context.host} (JA4 ${tls.ja4})`,
        `TLS to ${context.host} must name it in SNI (server_name); a hello without SNI is refused`));
    } else if (!sameHost(tls.sni, context.host)) {
      findings.push(finding(context.ruleSet, 'sni_mismatch', 'high', `tunnel to ${context.host} but TLS SNI is ${tls.sni} (domain fronting)`,
        `the TLS server name ${tls.sni} differs from the requested host ${context.host}; connect to ${tls.sni} directly if it is allowed`));
    }
  }
  findings.push(...serverNameIntel(context));
  const http = classification.http;
  if ((protocol === 'http' || protocol === 'websocket') && http?.host !== undefined && context.host !== undefined) {
    const hostOnly = hostOfHostHeader(http.host);
    if (!sameHost(hostOnly, context.host)) {
      findings.push(finding(context.ruleSet, 'host_mismatch', 'high', `tunnel to ${context.host} but HTTP Host is ${http.host.slice(0, 200)}`,
        `the HTTP Host ${hostOnly.slice(0, 200)} differs from the requested host ${context.host}`));
    }
  }
  return findings;
}

/**
 * A TLS server name on an intel list when the target itself was not that name: cloudflared dials its edge
 * by address with SNI `h2.cftunnel.com`, so the name is only in the hello. (A listed target name is
 * already reported by judgeTarget.)
 */
function serverNameIntel(context: ProtocolContext): ProtocolFinding[] {
  const intel = context.ruleSet.intel;
  const sni = context.classification.tls?.sni;
  if (!intel || sni === undefined || (context.host !== undefined && sameHost(sni, context.host))) return [];
  const named = intelForHost(intel, sni);
  if (!named) return [];
  const list = path.basename(named.source.file);
  return [finding(context.ruleSet, named.kind, 'high', `TLS server name ${sni} is listed as ${named.name} in intel/${list}:${named.source.line}`, reasonFor(named.kind))];
}

/**
 * Findings from the target alone, before anything is dialled: a name on an intel list (mining pool,
 * tunnelling service) or a port pools favour. These hold whether or not a rule allows the target.
 */
export function judgeTarget(ruleSet: RuleSet, host: string | undefined, port: number): ProtocolFinding[] {
  const intel = ruleSet.intel;
  if (!intel) return [];
  const findings: ProtocolFinding[] = [];
  const named = host === undefined ? undefined : intelForHost(intel, host);
  if (named && host !== undefined) {
    const list = path.basename(named.source.file);
    findings.push(finding(ruleSet, named.kind, 'high', `${host} is listed as ${named.name} in intel/${list}:${named.source.line}`, reasonFor(named.kind)));
  }
  const byPort = intel.ports.get(port);
  if (byPort) {
    findings.push(finding(ruleSet, byPort.kind, 'low', `port ${port} is a common mining-pool port (intel/${path.basename(byPort.source.file)}:${byPort.source.line})`, reasonFor(byPort.kind)));
  }
  return findings;
}

/** Findings from classifier detections (mining, reverse shells, nested proxies, tunnel tools). */
export function judgeDetections(ruleSet: RuleSet, detections: readonly Detection[]): ProtocolFinding[] {
  return detections.map((detection) => {
    const kind: DetectionKind = detection.type === 'protocol_mismatch' ? 'protocol_not_allowed' : detection.type;
    return {
      ...finding(ruleSet, kind, detection.confidence, detection.evidence, reasonFor(kind)),
      detection,
    };
  });
}

/** The strongest action among findings: quarantine > deny > alert. */
export function strongestAction(findings: readonly ProtocolFinding[]): DetectionAction | undefined {
  const order: DetectionAction[] = ['quarantine', 'deny', 'alert'];
  return order.find((action) => findings.some((f) => f.action === action));
}

function finding(ruleSet: RuleSet, kind: DetectionKind, confidence: Confidence, evidence: string, reason: string): ProtocolFinding {
  return { kind, action: detectionAction(ruleSet, kind, confidence), confidence, evidence, reason };
}

function reasonFor(kind: DetectionKind): string {
  switch (kind) {
    case 'stratum':
    case 'mining_pool':
    case 'mining_port':
      return 'cryptocurrency mining traffic is forbidden; this agent is quarantined until an operator releases it';
    case 'reverse_shell':
      return 'a remote shell over this connection is forbidden';
    case 'nested_proxy':
      return 'a proxy handshake inside the tunnel hides the real destination; connect to the destination directly';
    case 'tunnel_tool':
    case 'reverse_tunnel':
      return 'tunnelling tools and reverse tunnels are forbidden from the sandbox';
    case 'host_mismatch':
      return 'every request on this connection must be for the host the tunnel was opened to';
    case 'protocol_not_allowed':
      return 'this connection stopped speaking the protocol it was allowed for';
    default:
      return `the connection was refused (${kind})`;
  }
}

function protocolAllowed(protocol: ProtocolName, allowed: ReadonlySet<ProtocolName>): boolean {
  if (allowed.has(protocol)) return true;
  // A WebSocket starts as an HTTP request: HTTP allowed means the upgrade is allowed too. The reverse
  // does not hold: a websocket-only rule cannot tell, at the first request, whether the server will
  // switch protocols, so it does not admit plain HTTP (allow `http` to allow WebSocket).
  return protocol === 'websocket' && allowed.has('http');
}
