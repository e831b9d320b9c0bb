/**
 * Splits a CONNECT authority (`host:port`, `[v6]:port`) or a SOCKS-less "host:port" string.
 * The host is returned as written; normalisation and IP-literal parsing happen in the pipeline.
 */
export function splitAuthority(authority: string): { host: string; port: number } | { error: string } {
  const bracketed = /^\[([^\]]+)\]:(\d{1,5})$/.exec(authority);
  const plain = /^([^:[\]\s]+):(\d{1,5})$/.exec(authority);
  const match = bracketed ?? plain;
  if (!match?.[1] || !match[2]) return { error: `"${authority.slice(0, 100)}" is not host:port` };
  const port = Number(match[2]);
  if (port < 1 || port > 65535) return { error: `port ${port} is not a TCP port (1-65535)` };
  return { host: match[1], port };
}
