import { createHash, timingSafeEqual } from 'node:crypto';
import ipaddr from 'ipaddr.js';
import type { AgentPolicy, RuleSet } from '../policy/types.js';

/**
 * Who is this connection? A client is attributed by proxy credentials when it presents them (and then
 * they must be right: a wrong token never falls back to the source address), otherwise by the most
 * specific `identify.sources` CIDR containing its address.
 */

export interface ClientCredentials {
  user: string;
  password: string;
}

export type Identity =
  | { kind: 'agent'; agent: AgentPolicy; by: 'credentials' | 'source' }
  /** Matched nobody: the caller applies `unknown_agent` (or asks for credentials). */
  | { kind: 'unknown' }
  /** Credentials were presented and are wrong (unknown user or bad token). */
  | { kind: 'bad-credentials'; user: string };

interface SourceEntry {
  range: [ipaddr.IPv4 | ipaddr.IPv6, number];
  agent: AgentPolicy;
}

export class IdentityIndex {
  private readonly byUser = new Map<string, { agent: AgentPolicy; digest: Buffer }>();
  /** Sorted most specific first, so the first hit is the longest-prefix match. */
  private readonly sources: SourceEntry[] = [];

  constructor(ruleSet: RuleSet) {
    for (const agent of ruleSet.agents) {
      for (const credential of agent.credentials) {
        this.byUser.set(credential.user, { agent, digest: Buffer.from(credential.tokenSha256, 'hex') });
      }
      for (const cidr of agent.sources) {
        this.sources.push({ range: ipaddr.parseCIDR(cidr), agent });
      }
    }
    this.sources.sort((a, b) => b.range[1] - a.range[1]);
  }

  identify(clientAddress: string, credentials: ClientCredentials | undefined): Identity {
    if (credentials) return this.byCredentials(credentials);
    const agent = this.bySource(clientAddress);
    return agent ? { kind: 'agent', agent, by: 'source' } : { kind: 'unknown' };
  }

  bySource(clientAddress: string): AgentPolicy | undefined {
    const address = parseClientAddress(clientAddress);
    if (!address) return undefined;
    for (const entry of this.sources) {
      const [network] = entry.range;
      if (network.kind() === address.kind() && address.match(entry.range)) return entry.agent;
    }
    return undefined;
  }

  private byCredentials(credentials: ClientCredentials): Identity {
    const entry = this.byUser.get(credentials.user);
    const presented = createHash('sha256').update(credentials.password, 'utf8').digest();
    // Compare even for unknown users so that timing does not reveal which user names exist.
    const expected = entry?.digest ?? UNKNOWN_USER_DIGEST;
    const match = expected.length === presented.length && timingSafeEqual(expected, presented);
    if (entry && match) return { kind: 'agent', agent: entry.agent, by: 'credentials' };
    return { kind: 'bad-credentials', user: credentials.user };
  }
}

const UNKNOWN_USER_DIGEST = createHash('sha256').update('chokepoint: no such user').digest();

/** Socket addresses arrive as "::ffff:10.0.0.7" on dual-stack listeners: judge the IPv4 inside. */
function parseClientAddress(text: string): ipaddr.IPv4 | ipaddr.IPv6 | undefined {
  if (!ipaddr.isValid(text)) return undefined;
  const address = ipaddr.parse(text);
  if (address instanceof ipaddr.IPv6 && address.isIPv4MappedAddress()) return address.toIPv4Address();
  return address;
}
