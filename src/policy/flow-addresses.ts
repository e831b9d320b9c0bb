/**
 * The addresses of a flow, parsed into the forms the matchers compare, and what the matchers say of them.
 *
 * Each address is judged first by its embedded IPv4 when it has one (IPv4-mapped, NAT64, 6to4,
 * Teredo: see net/address.ts), so "::ffff:10.0.0.1" meets "10.0.0.0/8" rules and the private range.
 * Its raw IPv6 form is kept as a second form so that rules written for the IPv6 side still apply
 * ("deny 2002::/16" catches every 6to4 address). A rule matches the address if it matches either form
 * (the judged form's rule is preferred); SSRF vetting looks at the judged form only, because that is
 * where the flow really ends up (the 6to4 wrapper of 10.0.0.1 is a private address).
 */
import { addressForJudging, parseIpLiteral } from '../net/address.js';
import { addressBits, type AddressBits } from './address-bits.js';
import type { CidrMatcher, CidrRule } from './cidr-matcher.js';
import type { Matches, Slot } from './rule-buckets.js';
import type { Rule } from './types.js';

/** Shared between decisions through the parse cache: never modified once built. */
export interface FlowAddress {
  /** The address as the caller gave it, for reasons and events. */
  readonly text: string;
  /** The address that is judged: the embedded IPv4, or the address itself. */
  readonly judged: AddressBits;
  /** The address as written, when it differs from `judged`. */
  readonly raw: AddressBits | undefined;
}

/**
 * Parsing an address (net/address.ts) costs about 0.7 µs (IPv4) to 1.6 µs (IPv6), as much as the rest
 * of a decision, while flows go to the same destinations over and over: parsed addresses are kept by
 * their text. Bounded; when full the cache is emptied, a cheap stand-in for LRU whose worst case is
 * "parse every time".
 */
const PARSE_CACHE_LIMIT = 16_384;
const parsedByText = new Map<string, FlowAddress>();

export function parseFlowAddresses(texts: readonly string[]): FlowAddress[] | { invalid: string } {
  const addresses: FlowAddress[] = [];
  for (const text of texts) {
    const address = parsedByText.get(text) ?? parseAndRemember(text);
    if (address === undefined) return { invalid: text };
    addresses.push(address);
  }
  return addresses;
}

/** Parses `text`; remembers it when it is an address (invalid text is rare and not worth keeping). */
function parseAndRemember(text: string): FlowAddress | undefined {
  const written = parseIpLiteral(text);
  if (written === undefined) return undefined;
  const judged = addressForJudging(written);
  const address: FlowAddress =
    judged === written
      ? { text, judged: addressBits(written), raw: undefined }
      : { text, judged: addressBits(judged), raw: addressBits(written) };
  if (parsedByText.size >= PARSE_CACHE_LIMIT) parsedByText.clear();
  parsedByText.set(text, address);
  return address;
}

/** What an agent's CIDR matcher says about one address. */
export interface AddressMatches {
  address: FlowAddress;
  /** The most specific rule of each slot containing the judged form. */
  judged: Matches<CidrRule>;
  /** The same for the raw form, when there is one. */
  raw: Matches<CidrRule> | undefined;
}

export function matchAddresses(cidrs: CidrMatcher, addresses: readonly FlowAddress[], port: number): AddressMatches[] {
  return addresses.map((address) => ({
    address,
    judged: cidrs.match(address.judged, port),
    raw: address.raw === undefined ? undefined : cidrs.match(address.raw, port),
  }));
}

/** The rule of `slot` for one address: the judged form's, else the raw form's. */
function ruleFor(matches: AddressMatches, slot: Slot): Rule | undefined {
  return (matches.judged[slot] ?? matches.raw?.[slot])?.rule;
}

/** Deny semantics: the rule for the first address that some rule of `slot` contains. */
export function ruleForAnyAddress(matches: readonly AddressMatches[], slot: Slot): Rule | undefined {
  for (const m of matches) {
    const rule = ruleFor(m, slot);
    if (rule !== undefined) return rule;
  }
  return undefined;
}

/**
 * Allow / alert semantics: every address must be covered (by one rule or several); the rule reported
 * is the one for the first address. Undefined for no addresses: nothing is not "all".
 */
export function ruleForAllAddresses(matches: readonly AddressMatches[], slot: Slot): Rule | undefined {
  let first: Rule | undefined;
  for (const m of matches) {
    const rule = ruleFor(m, slot);
    if (rule === undefined) return undefined;
    first ??= rule;
  }
  return first;
}
