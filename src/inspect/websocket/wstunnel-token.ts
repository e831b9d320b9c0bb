/**
 * wstunnel (github.com/erebe/wstunnel) sends its tunnel request in the upgrade's subprotocol list:
 * `Sec-WebSocket-Protocol: v1, authorization.bearer.<JWT>`. The JWT payload is plain base64url JSON
 * (`{"id": uuid, "p": protocol, "r": host, "rp": port}`), readable without the signing key, so the proxy
 * can name the real tunnel target. The signature is not checked: we only read what the client asked for.
 */
export const WSTUNNEL_TOKEN_PREFIX = 'authorization.bearer.';

export interface WstunnelRequest {
  /** Tunnel protocol as wstunnel names it: `Tcp`, `Udp`, `ReverseTcp`, `ReverseSocks5`, ... */
  protocol: string;
  /** `r`: the host the tunnel leads to (for reverse tunnels, the address the server side binds). */
  host: string;
  /** `rp`: the port that goes with `host`. */
  port: number;
}

/** A bound on token size so a hostile header cannot make us decode megabytes. */
const MAX_TOKEN_LENGTH = 8192;

/** Reads the tunnel request from an `authorization.bearer.<JWT>` subprotocol, or undefined. */
export function readWstunnelToken(subprotocol: string): WstunnelRequest | undefined {
  if (!subprotocol.toLowerCase().startsWith(WSTUNNEL_TOKEN_PREFIX)) return undefined;
  const token = subprotocol.slice(WSTUNNEL_TOKEN_PREFIX.length);
  if (token.length > MAX_TOKEN_LENGTH) return undefined;
  const [, payload] = token.split('.');
  if (payload === undefined) return undefined;
  const claims = parseJsonObject(Buffer.from(payload, 'base64url').toString('utf8'));
  if (claims === undefined) return undefined;
  const { r: host, rp: port } = claims;
  if (typeof host !== 'string' || typeof port !== 'number' || !Number.isInteger(port)) return undefined;
  return { protocol: protocolName(claims['p']), host, port };
}

/**
 * serde's default enum encoding: a unit variant is its name (`"Tcp"`), a variant with fields is an object
 * with one key (`{"Udp": {"timeout": null}}`).
 */
function protocolName(value: unknown): string {
  if (typeof value === 'string') return value;
  if (isObject(value)) return Object.keys(value)[0] ?? 'unknown';
  return 'unknown';
}

function parseJsonObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return isObject(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
