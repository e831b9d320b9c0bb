/**
 * A fixed-width view of an address that the prefix tables can mask cheaply: its 32-bit words (one for
 * IPv4, four for IPv6), as unsigned numbers. Masking a word is one shift and a word is a cheap `Map`
 * key, so looking a network up never builds a string.
 */
import type { IpAddress } from '../net/address.js';

export interface AddressBits {
  family: 4 | 6;
  /** Most significant word first. */
  words: readonly number[];
}

export function addressBits(address: IpAddress): AddressBits {
  const bytes = address.toByteArray();
  const words: number[] = [];
  for (let i = 0; i < bytes.length; i += 4) words.push(wordAt(bytes, i));
  return { family: address.kind() === 'ipv4' ? 4 : 6, words };
}

/** The big-endian 32-bit word of `bytes` starting at `offset`, unsigned. */
function wordAt(bytes: readonly number[], offset: number): number {
  const byte = (i: number): number => bytes[offset + i] ?? 0;
  return ((byte(0) << 24) | (byte(1) << 16) | (byte(2) << 8) | byte(3)) >>> 0;
}

/** How many words a network of length `prefix` spans (0 for the whole family). */
export function wordsInPrefix(prefix: number): number {
  return Math.ceil(prefix / 32);
}

/**
 * The `index`-th word of the network of length `prefix` that holds the address, as a key: the word
 * itself when the prefix covers all of it, else only its leading bits (shifted down).
 */
export function prefixWordKey(bits: AddressBits, index: number, prefix: number): number {
  const word = bits.words[index] ?? 0;
  const keptBits = prefix - index * 32;
  return keptBits >= 32 ? word : word >>> (32 - keptBits);
}
