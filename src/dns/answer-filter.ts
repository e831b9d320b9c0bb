/**
 * Vets an upstream answer before any of it reaches the agent, with the same rules as a flow:
 *
 *  - the CNAME chain is followed from the queried name; every name on it is checked against deny rules
 *    (global and the agent's): a denied name anywhere refuses the whole answer;
 *  - records are kept only when their owner is on the chain (no out-of-chain data, no glue) and their
 *    type is the one asked for or CNAME (an upstream that adds A records to a TXT answer does not get
 *    addresses past the agent's question); RRSIGs go, since the answer is no longer the signed one;
 *  - every A / AAAA address is judged as a flow to the queried name at that address would be, on the
 *    ports where the name is resolvable: an address in a special range (metadata, loopback, private,
 *    …) without a cidr rule inside the range, or one a deny rule covers, is dropped with its reason;
 *  - TTLs are capped at `maxTtlSeconds`, so that a policy change reaches the agent's cache soon.
 *
 * Pure: the decisions come from the policy view, the records from the upstream message.
 */
import type { DnsPolicyView } from '../pipeline/policy-snapshot.js';
import type { Decision } from '../policy/types.js';
import { normaliseHostname } from '../net/hostname.js';
import { formatAddress, parseIpLiteral } from '../net/address.js';
import { ADDRESS_TYPES, FORWARDED_TYPES } from './record-types.js';
import type { DnsRecord } from './wire.js';

export interface DroppedAddress {
  address: string;
  decision: Decision;
}

export type FilteredAnswer =
  | {
      kind: 'answer';
      answers: DnsRecord[];
      authorities: DnsRecord[];
      /** The chain from the queried name to the name holding the addresses. */
      chain: string[];
      /** Addresses handed out (canonical text) and the smallest TTL among them. */
      addresses: string[];
      addressTtl: number;
      dropped: DroppedAddress[];
      /** With `keepRefused` (audit): the chain denial that enforce mode would have refused the answer for. */
      chainDenial?: Decision;
    }
  /** A name of the CNAME chain is denied: nothing of the answer is handed out. */
  | { kind: 'chain-denied'; name: string; decision: Decision; chain: string[] };

const MAX_CHAIN = 16;

export interface FilterInput {
  host: string;
  /** The question's type: the only type kept besides the CNAMEs of the chain. */
  type: string;
  answers: readonly DnsRecord[];
  authorities: readonly DnsRecord[];
  view: DnsPolicyView;
  ports: readonly number[];
  maxTtlSeconds: number;
  /** Audit mode: report what would be refused (in `dropped`, `chainDenial`) but hand everything out. */
  keepRefused?: boolean;
}

export function filterAnswer(input: FilterInput): FilteredAnswer {
  const { host, view, ports } = input;
  const chain = [host];
  const cnames = new Map<string, string>();
  let chainDenial: Decision | undefined;
  for (const record of input.answers) {
    if (record.type === 'CNAME' && typeof record.data === 'string') cnames.set(lower(record.name), lower(record.data));
  }
  for (let current = host; chain.length <= MAX_CHAIN; ) {
    const target = cnames.get(current);
    if (target === undefined || chain.includes(target)) break;
    const normalised = normaliseHostname(target);
    const name = 'host' in normalised ? normalised.host : target;
    const denial = 'host' in normalised ? view.vetChainName(name, ports) : { action: 'deny' as const, rule: 'dns.bad-cname', reason: `the CNAME target ${JSON.stringify(target)} is not a host name` };
    chain.push(name);
    if (denial !== undefined && !input.keepRefused) return { kind: 'chain-denied', name, decision: denial, chain };
    chainDenial ??= denial;
    current = name;
  }

  const onChain = new Set(chain);
  const answers: DnsRecord[] = [];
  const addresses: string[] = [];
  const dropped: DroppedAddress[] = [];
  let addressTtl = input.maxTtlSeconds;
  for (const record of input.answers) {
    if (record.type === 'OPT' || !onChain.has(lower(record.name)) || !FORWARDED_TYPES.has(record.type)) continue;
    if (record.type !== input.type && record.type !== 'CNAME') continue;
    const ttl = Math.min(ttlOf(record), input.maxTtlSeconds);
    if (ADDRESS_TYPES.has(record.type)) {
      const parsed = typeof record.data === 'string' ? parseIpLiteral(record.data) : undefined;
      if (parsed === undefined) continue;
      const address = formatAddress(parsed);
      const refusal = view.vetAddress(host, address, ports);
      if (refusal !== undefined) {
        dropped.push({ address, decision: refusal });
        if (!input.keepRefused) continue;
      }
      addresses.push(address);
      addressTtl = Math.min(addressTtl, ttl);
    }
    answers.push({ ...record, ttl });
  }
  const authorities = input.authorities
    .flatMap((record): DnsRecord[] => (record.type === 'SOA' ? [{ ...record, ttl: Math.min(ttlOf(record), input.maxTtlSeconds) }] : []));
  return { kind: 'answer', answers, authorities, chain, addresses, addressTtl, dropped, ...(chainDenial ? { chainDenial } : {}) };
}

function ttlOf(record: DnsRecord): number {
  return 'ttl' in record ? (record.ttl ?? 0) : 0;
}

function lower(name: string): string {
  const trimmed = name.endsWith('.') ? name.slice(0, -1) : name;
  return trimmed.toLowerCase();
}
