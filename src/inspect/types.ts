/**
 * Shared vocabulary of the streaming classifiers.
 *
 * A classifier is a pure state machine: it is fed the bytes of one flow as they arrive, from either
 * direction, in whatever chunking the sockets produced (one byte at a time or several messages
 * coalesced), and reports what it has learnt. It never touches a socket, a timer or the clock: the
 * caller passes the time of each read. Every classifier has hard buffer caps and must not grow past
 * them whatever it is fed.
 */

/** Who sent the bytes: `up` = the agent (client) towards the destination, `down` = the destination back. */
export type Direction = 'up' | 'down';

/** Protocols Chokepoint can name from the bytes. `unknown`: nothing matched yet; `opaque`: gave up. */
export type ProtocolName =
  | 'tls'
  | 'http'
  | 'http2'
  | 'websocket'
  | 'ssh'
  | 'stratum'
  | 'socks'
  | 'proxy-protocol'
  | 'reverse-shell'
  | 'unknown'
  | 'opaque';

export type Confidence = 'low' | 'medium' | 'high';

/** Facts read from a TLS ClientHello. */
export interface TlsFacts {
  /** server_name, lower-cased, absent when the hello has no SNI extension. */
  sni?: string;
  /** ALPN protocol names in wire order. */
  alpn: string[];
  /** Offered versions from supported_versions (or the legacy version), e.g. ["1.3", "1.2"]. */
  versions: string[];
  ja4: string;
  /** ja3 full string and md5 hash. */
  ja3: string;
  ja3Hash: string;
  /** An encrypted_client_hello extension (0xfe0d) is present: the SNI is only the outer public name. */
  ech: boolean;
  /** The hello used the SSLv2-compatible record format. */
  sslv2Compat?: boolean;
}

/** Facts read from an HTTP/1.x request head. */
export interface HttpFacts {
  method: string;
  target: string;
  version: string;
  host?: string;
  userAgent?: string;
  /** Value of Upgrade, lower-cased, when Connection lists upgrade. */
  upgrade?: string;
  /** All headers, names lower-cased, repeated names joined with ", ". */
  headers: Record<string, string>;
}

/** Facts read from SSH identification lines and KEXINITs. */
export interface SshFacts {
  clientBanner?: string;
  serverBanner?: string;
  /** HASSH (md5) of the client KEXINIT and its algorithm string. */
  hassh?: string;
  hasshAlgorithms?: string;
  hasshServer?: string;
  hasshServerAlgorithms?: string;
  /** Negotiated algorithms once both KEXINITs are seen (RFC 4253 §7.1: first client choice the server supports). */
  negotiated?: {
    kex?: string;
    hostKey?: string;
    cipherClientToServer?: string;
    cipherServerToClient?: string;
    macClientToServer?: string;
    macServerToClient?: string;
  };
}

/** Dialects of mining protocols. */
export type StratumDialect =
  | 'stratum-v1'
  | 'cryptonote'
  | 'ethproxy'
  | 'ethereum-stratum-1'
  | 'ethereum-stratum-2'
  | 'getwork'
  | 'getblocktemplate'
  | 'stratum-v2'
  | 'stratum-v2-encrypted'
  | 'coinhive';

export interface StratumFacts {
  dialect: StratumDialect;
  /** The method that triggered the finding, as sent (not lower-cased). */
  method?: string;
  /** Miner user agent, e.g. "XMRig/6.21.0 (Linux x86_64) libuv/1.44.2 gcc/12.2.0". */
  agent?: string;
  /** Wallet / login, redacted to a short prefix followed by "…" so events never carry a full wallet. */
  login?: string;
  worker?: string;
  algorithm?: string;
}

/** One thing a classifier found worth an event. */
export interface Detection {
  /** Stable detection type; becomes the event name `detection.<type>`. */
  type:
    | 'stratum'
    | 'reverse_shell'
    | 'nested_proxy'
    | 'protocol_mismatch'
    | 'host_mismatch'
    | 'tunnel_tool'
    | 'reverse_tunnel'
    | 'websocket_payload';
  confidence: Confidence;
  /** Human-readable evidence, short, never containing secrets (wallets and tokens redacted). */
  evidence: string;
  direction: Direction;
  /** Milliseconds since the flow started (from the `atMs` passed to push). */
  atMs: number;
  stratum?: StratumFacts;
}

/** What a classifier reports after each push. */
export interface ClassifierReport {
  /**
   * `undecided`: needs more bytes; `identified`: the bytes are this classifier's protocol;
   * `rejected`: the bytes are certainly not this protocol (the classifier will ignore further input).
   */
  state: 'undecided' | 'identified' | 'rejected';
  /** Detections raised by this push only (not repeated on later pushes). */
  detections: Detection[];
}

/** The common interface every streaming classifier implements. */
export interface StreamClassifier {
  readonly protocol: ProtocolName;
  /** Feed bytes; `atMs` is a monotonic time in ms since flow start. Must not throw on any input. */
  push(chunk: Buffer, direction: Direction, atMs: number): ClassifierReport;
}
