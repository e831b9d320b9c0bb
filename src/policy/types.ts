/**
 * The policy model as loaded from `rules/` (after validation), and the decision it produces.
 * Loading and validation live in src/config/; compiling and deciding live here in src/policy/.
 */
import type { AgentBudgets } from '../budgets/types.js';
import type { Confidence, ProtocolName } from '../inspect/types.js';

/** Inclusive port range; `{from: 1, to: 65535}` is "any port". */
export interface PortRange {
  from: number;
  to: number;
}

/** Where a rule was written, so events and lint errors can point at it. */
export interface RuleSource {
  file: string;
  line: number;
}

export type RuleList = 'allow' | 'alert' | 'deny';

/** One validated rule. Exactly one of `host` or `cidr` is set. */
export interface Rule {
  /** Stable id used in events and denial bodies, e.g. "coder-7.allow.0" or the rule's explicit `id`. */
  id: string;
  list: RuleList;
  /**
   * Normalised host pattern: "github.com" (exact), "*.github.com" (subdomains only, not the apex),
   * or "*" (any host name). Lower-case, no trailing dot, IDN as punycode.
   */
  host?: string;
  /** Canonical CIDR text, e.g. "10.20.0.0/16" or "2001:db8::/32". */
  cidr?: string;
  /** Ports the rule covers. Allow/alert default to 80 and 443; deny defaults to any port. */
  ports: PortRange[];
  /** Protocols the rule allows on the wire (issue 3); undefined = the defaults for the port. */
  protocols?: ProtocolName[];
  /** Text written for the agent that reads the denial (deny rules), or for the analyst (alert rules). */
  reason?: string;
  /** Allow / alert rules only: SSH on this rule is terminated by Chokepoint and re-originated upstream. */
  intercept?: SshInterception;
  source?: RuleSource;
}

/**
 * `intercept: ssh`: the agent's SSH ends at Chokepoint, which logs in upstream itself with a key only it
 * holds, over the pinned host key, and relays sessions; forwarding of any kind is refused.
 */
export interface SshInterception {
  kind: 'ssh';
  /** Upstream user name Chokepoint logs in as. */
  user: string;
  /** Private key file, relative to the certs directory (never the key itself). */
  key: string;
  /** Pinned upstream host key, OpenSSH spelling without padding: "SHA256:<43 base64 characters>". */
  hostKeySha256: string;
  /** Allowed exec commands (first word); with `subsystems` also undefined: any exec, shell and subsystem. */
  exec?: string[];
  /** Allowed subsystems (e.g. sftp). Either key set restricts the session (no shell) to what is listed. */
  subsystems?: string[];
}

export type AgentMode = 'enforce' | 'audit';

export interface Credential {
  user: string;
  /** Lower-case hex SHA-256 of the token (the proxy password). */
  tokenSha256: string;
}

export interface AgentPolicy {
  name: string;
  mode: AgentMode;
  /** Canonical CIDRs whose source addresses belong to this agent. */
  sources: string[];
  credentials: Credential[];
  rules: Rule[];
  source?: RuleSource;
  /** Per-agent budgets (src/budgets/); absent = none. */
  budgets?: AgentBudgets;
}

/** Everything in `rules/`: global denies, the unknown-agent setting and every agent. */
export interface RuleSet {
  /** Rules from `rules/policy.yaml` `deny:` applied before any agent rule. */
  globalDeny: Rule[];
  /** Name of the agent policy that unidentified clients get, or "deny" for the built-in deny-all. */
  unknownAgent: string;
  /** When true, a client that matches no agent by source address gets 407 (HTTP) / auth failure (SOCKS). */
  requireCredentials: boolean;
  agents: AgentPolicy[];
  /** Threat-intelligence lists from `rules/intel/` (absent when the folder is). */
  intel?: IntelLists;
  /** Action per detection kind (`detections:` in policy.yaml); kinds left out take the defaults. */
  detectionActions?: Partial<Record<DetectionKind, DetectionActionSetting>>;
}

/** The target of a flow at decision time. */
export interface DecisionTarget {
  /** Normalised host name when the client asked for a name; undefined when it asked for an IP literal. */
  host?: string;
  /** Every address the name resolved to (or the literal itself), canonical text. Empty before resolution. */
  addresses: string[];
  port: number;
}

export type Action = 'allow' | 'alert' | 'deny';

export interface Decision {
  action: Action;
  /** Rule id that decided; synthetic ids for built-ins: "default-deny", "ssrf.<range>", "unknown-agent". */
  rule: string;
  /** Text for the agent (denials) or the analyst (alerts); always present on deny. */
  reason?: string;
  /** Set when an address was refused by SSRF vetting: which address and which special range. */
  refusedAddress?: { address: string; range: string };
}

/** What happens when a detection fires (set per kind in `rules/policy.yaml` `detections:`). */
export type DetectionAction = 'alert' | 'deny' | 'quarantine';

/**
 * One action for a kind, or one per confidence (`reverse_tunnel: { high: quarantine, medium: deny,
 * low: alert }`); a confidence the map leaves out takes the kind's default action.
 */
export type DetectionActionSetting = DetectionAction | Partial<Record<Confidence, DetectionAction>>;

/**
 * Kinds of protocol-level findings a policy reacts to. Classifier detections map onto these
 * (`stratum`, `nested_proxy`, `reverse_shell`, `tunnel_tool`, `reverse_tunnel`, `websocket_payload`);
 * the others are mismatches between what the agent asked for and what its bytes say.
 */
export const DETECTION_KINDS = [
  'stratum',
  'mining_pool',
  'mining_port',
  'ssh_not_allowed',
  'protocol_not_allowed',
  'sni_mismatch',
  'missing_sni',
  'host_mismatch',
  'nested_proxy',
  'reverse_shell',
  'tunnel_tool',
  'reverse_tunnel',
  'websocket_payload',
  'dns_tunnel',
] as const;
export type DetectionKind = (typeof DETECTION_KINDS)[number];

/**
 * Defaults: mining and reverse shells quarantine the agent (a job doing that is compromised);
 * protocol mismatches and SSH where no rule allows it are denied; payload oddities inside WebSocket
 * are reported for an analyst to look at.
 */
export const DEFAULT_DETECTION_ACTIONS: Readonly<Record<DetectionKind, DetectionAction>> = {
  stratum: 'quarantine',
  mining_pool: 'quarantine',
  mining_port: 'alert',
  ssh_not_allowed: 'deny',
  protocol_not_allowed: 'deny',
  sni_mismatch: 'deny',
  missing_sni: 'deny',
  host_mismatch: 'deny',
  nested_proxy: 'deny',
  reverse_shell: 'quarantine',
  tunnel_tool: 'deny',
  reverse_tunnel: 'deny',
  websocket_payload: 'alert',
  // Blocks the tunnel's domain for the agent (its queries get REFUSED); quarantine is one word away.
  dns_tunnel: 'deny',
};

/** The action for a finding of `kind` at `confidence` (findings without a graded confidence are `high`). */
export function detectionAction(ruleSet: RuleSet, kind: DetectionKind, confidence: Confidence = 'high'): DetectionAction {
  const setting = ruleSet.detectionActions?.[kind] ?? DEFAULT_DETECTION_ACTIONS[kind];
  return typeof setting === 'string' ? setting : (setting[confidence] ?? DEFAULT_DETECTION_ACTIONS[kind]);
}

/** Names and ports whose mere use is a detection (`rules/intel/`). */
export interface IntelLists {
  /** Normalised name → the kind a connection to it (or a subdomain) raises, and the list it came from. */
  domains: ReadonlyMap<string, { kind: DetectionKind; source: RuleSource }>;
  ports: ReadonlyMap<number, { kind: DetectionKind; source: RuleSource }>;
}
