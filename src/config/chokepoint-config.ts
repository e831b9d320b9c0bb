/**
 * The program's settings after loading: every value present, defaults filled in, paths absolute.
 * Loading lives in load-config.ts; this file is the shape and the defaults only.
 */
import type { SinkConfig } from '../sinks/sink-config.js';
import type { ListenAddress, ServerAddress } from './addresses.js';
import type { QuarantineConfig } from './quarantine-config.js';

export type { ListenAddress, ServerAddress } from './addresses.js';

export interface ChokepointConfig {
  /** `null` disables that listener. */
  /**
   * `admin` (the admin API), `dns` (the DNS listener, UDP + TCP on one address) and `transparent` (the
   * iptables REDIRECT target) are off when absent or null.
   */
  listen: {
    http: ListenAddress | null;
    socks: ListenAddress | null;
    admin?: ListenAddress | null;
    dns?: ListenAddress | null;
    transparent?: ListenAddress | null;
  };
  /** Absolute path of the rules directory. */
  rulesDir: string;
  /**
   * Absolute path of the directory for state that must survive a restart (quarantined agents). In a
   * container with a read-only root filesystem this is a volume.
   */
  stateDir: string;
  /**
   * Absolute path of the directory of interception key material: the SSH host key Chokepoint shows
   * agents (generated on first use) and the private keys `intercept: ssh` rules name.
   */
  certsDir: string;
  /**
   * Classify tunnel bytes before dialling (default). `false` turns a tunnel into a plain relay judged on
   * its target only — for measuring the cost of inspection, not for production.
   */
  inspect: boolean;
  /**
   * `file: null` writes JSON lines to stdout; otherwise appends to that absolute path.
   * `heartbeatSeconds`: interval of proxy.heartbeat events, 0 = none.
   */
  events: { file: string | null; heartbeatSeconds: number };
  /** Static name → canonical addresses, consulted before DNS like /etc/hosts. Names are normalised. */
  hosts: Map<string, string[]>;
  /** Named like the resolver's options so they can be spread into them. */
  dns: {
    cacheMaxEntries: number;
    minTtlSeconds: number;
    maxTtlSeconds: number;
    negativeTtlSeconds: number;
    timeoutMs: number;
    /** DNS listener: upstream queries pending at once for one agent, and for all agents together. */
    maxInFlightPerAgent: number;
    maxInFlight: number;
    /**
     * Resolvers the DNS listener forwards to, tried in order (failover), and the proxy's resolver asks
     * too. Empty: the system's resolvers (/etc/resolv.conf).
     */
    upstreams: ServerAddress[];
  };
  timeouts: { headerMs: number; connectMs: number; idleMs: number; peekMs: number };
  limits: { maxHeaderBytes: number; maxFlowsTotal: number; maxFlowsPerAgent: number };
  /** The admin API's bearer token (`tokenFile` absolute), else CHOKEPOINT_ADMIN_TOKEN (src/admin/token.ts). */
  admin?: { token?: string; tokenFile?: string };
  /** Quarantine expiry and webhooks (src/config/quarantine-config.ts). */
  quarantine: QuarantineConfig;
  /** Where events go (src/sinks). Empty = one implicit stdout / `events.file` sink, as before sinks existed. */
  sinks: SinkConfig[];
}

/**
 * Defaults for every setting. `rulesDir` is relative here and resolved against the config file's
 * directory (or the working directory when there is no config file). The static host map is empty.
 */
export const DEFAULT_CONFIG = {
  listen: { http: { host: '127.0.0.1', port: 3128 }, socks: { host: '127.0.0.1', port: 1080 }, dns: null, transparent: null },
  rulesDir: 'rules',
  stateDir: '.chokepoint-state',
  certsDir: 'certs',
  inspect: true,
  events: { file: null, heartbeatSeconds: 60 },
  dns: { cacheMaxEntries: 10_000, minTtlSeconds: 5, maxTtlSeconds: 300, negativeTtlSeconds: 5, timeoutMs: 3_000, maxInFlightPerAgent: 64, maxInFlight: 256, upstreams: [] },
  timeouts: { headerMs: 10_000, connectMs: 10_000, idleMs: 300_000, peekMs: 300 },
  limits: { maxHeaderBytes: 65_536, maxFlowsTotal: 10_000, maxFlowsPerAgent: 1_000 },
} as const satisfies Omit<ChokepointConfig, 'hosts' | 'quarantine' | 'sinks'>;
