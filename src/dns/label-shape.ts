/**
 * What a DNS label looks like: ordinary words and hostnames, or encoded data (hex, base32, base64 as
 * tunnels put it). Pure functions over one label; the tunnel detector combines them over many queries.
 */

/** Shannon entropy of the characters of `text`, in bits per character. */
export function shannonEntropy(text: string): number {
  if (text.length === 0) return 0;
  const counts = new Map<string, number>();
  for (const char of text) counts.set(char, (counts.get(char) ?? 0) + 1);
  let bits = 0;
  for (const count of counts.values()) {
    const p = count / text.length;
    bits -= p * Math.log2(p);
  }
  return bits;
}

const HEX = /^[0-9a-f]+$/;
const BASE32 = /^[a-z2-7]+$/;
const DIGIT = /[0-9]/g;
const LETTER = /[a-z]/g;

/** Labels shorter than this carry too few characters for their entropy to mean anything. */
export const MIN_ENCODED_LABEL = 20;

export interface LabelShape {
  length: number;
  entropy: number;
  alphabet: 'hex' | 'base32' | 'other';
  /** Long, mixed digits and letters, and close to the entropy of random text over its alphabet. */
  encoded: boolean;
}

/**
 * Random text of length n over an alphabet of k symbols has an entropy close to log2(min(n, k)); words,
 * hostnames and most CDN names sit well below it (repeated letters, few digits). A label counts as
 * encoded at 80 % of that ceiling with at least two digits and two letters: 32 random hex digits reach
 * ~3.7 of 4 bits, 50 base32 characters ~4.6 of 5. A hyphenated label needs one hyphen-free run that long.
 */
export function labelShape(label: string): LabelShape {
  const text = label.toLowerCase();
  const entropy = shannonEntropy(text);
  const alphabet = HEX.test(text) ? 'hex' : BASE32.test(text) ? 'base32' : 'other';
  const alphabetSize = alphabet === 'hex' ? 16 : alphabet === 'base32' ? 32 : 37;
  const ceiling = Math.log2(Math.min(text.length, alphabetSize));
  const digits = text.match(DIGIT)?.length ?? 0;
  const letters = text.match(LETTER)?.length ?? 0;
  // Encoded data is one run of characters; hyphens join words and ids ("my-load-balancer-1234567890").
  const longestRun = Math.max(...text.split('-').map((piece) => piece.length));
  const encoded = longestRun >= MIN_ENCODED_LABEL && digits >= 2 && letters >= 2 && entropy >= 0.8 * ceiling;
  return { length: text.length, entropy, alphabet, encoded };
}

/**
 * The domain a tunnel would be run under: the last two labels, or three under the usual second-level
 * registries ("example.co.uk"). An approximation of the public-suffix list, enough to group a tunnel's
 * queries (they all end in the tunnel's own domain).
 */
export function parentDomain(name: string): string {
  const labels = name.split('.');
  if (labels.length <= 2) return name;
  const secondLevel = labels[labels.length - 2] ?? '';
  const topLevel = labels[labels.length - 1] ?? '';
  const take = topLevel.length === 2 && ['co', 'com', 'net', 'org', 'ac', 'gov', 'edu', 'ne', 'or'].includes(secondLevel) ? 3 : 2;
  return labels.slice(-Math.min(take, labels.length)).join('.');
}
