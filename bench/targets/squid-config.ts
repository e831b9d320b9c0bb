/** squid.conf for a throw-away, non-caching Squid on loopback: the peer Chokepoint is compared with. */

export interface SquidSettings {
  port: number;
  /** Holds pid file and cache.log; must be writable by `effectiveUser`. */
  workDir: string;
  maxFileDescriptors: number;
  /** Squid started as root drops to this user; null when not root (the directive would be ignored). */
  effectiveUser: string | null;
}

export function squidConfig(settings: SquidSettings): string {
  const { port, workDir } = settings;
  return [
    `http_port 127.0.0.1:${port}`,
    // Without it Squid looks up the machine's own name, and refuses to start where that does not resolve.
    'visible_hostname chokepoint-bench-squid',
    ...(settings.effectiveUser === null ? [] : [`cache_effective_user ${settings.effectiveUser}`]),
    `pid_filename ${workDir}/squid.pid`,
    `cache_log ${workDir}/cache.log`,
    `coredump_dir ${workDir}`,
    'access_log none',
    // A pure forwarder, like Chokepoint: nothing stored, nothing served from memory.
    'cache deny all',
    'cache_mem 0 MB',
    `max_filedescriptors ${settings.maxFileDescriptors}`,
    // Stop at once on SIGTERM instead of waiting 30 s for clients to finish.
    'shutdown_lifetime 0 seconds',
    'pinger_enable off',
    // The predefined "localhost" ACL; no Safe_ports / SSL_ports rules, so CONNECT reaches any port.
    'http_access allow localhost',
    'http_access deny all',
    '',
  ].join('\n');
}
