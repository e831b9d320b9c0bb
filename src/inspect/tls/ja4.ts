/**
 * TLS client fingerprints computed from a parsed ClientHello.
 *
 * JA4 follows FoxIO's specification (technical_details/JA4.md). Where FoxIO's own implementations
 * disagree with that text, the text wins:
 * - ALPN marker, non-alphanumeric first or last byte: the spec prints the first and last characters
 *   of the hex encoding of the first ALPN value (0xAB 0xCD → "ad"); the Python and Rust references
 *   replace each non-ASCII character with '9' (so a fully non-ASCII value gives "99").
 * - ALPN marker, one-byte value: the spec uses that character as both first and last ("x" → "xx");
 *   the references print "x0".
 * - GREASE is dropped from signature algorithms too ("ignore GREASE values anywhere"), which older
 *   reference versions did not do.
 * The transport letter is always 't': this classifier only sees TCP.
 *
 * JA3 follows salesforce/ja3: decimal values joined by '-', fields joined by ',', GREASE removed,
 * wire order kept, MD5 of the string.
 */
import { createHash } from 'node:crypto';
import { EXTENSION, offeredVersions, withoutGrease, type ClientHelloInfo } from './client-hello.js';

/** JA4's two-character version codes. */
const JA4_VERSION_CODES: ReadonlyMap<number, string> = new Map([
  [0x0304, '13'],
  [0x0303, '12'],
  [0x0302, '11'],
  [0x0301, '10'],
  [0x0300, 's3'],
  [0x0002, 's2'],
  [0xfeff, 'd1'],
  [0xfefd, 'd2'],
  [0xfefc, 'd3'],
]);

/** JA4 prints this instead of hashing an empty list, so "nothing offered" stays recognisable. */
const EMPTY_LIST_HASH = '000000000000';
const MAX_COUNT = 99;

export function ja4(hello: ClientHelloInfo): string {
  const ciphers = withoutGrease(hello.cipherSuites);
  const extensions = withoutGrease(hello.extensionTypes);

  const partA = [
    't',
    JA4_VERSION_CODES.get(Math.max(...offeredVersions(hello))) ?? '00',
    extensions.includes(EXTENSION.serverName) ? 'd' : 'i',
    twoDigitCount(ciphers.length),
    // SNI and ALPN are counted here even though part c leaves them out.
    twoDigitCount(extensions.length),
    alpnMarker(hello.alpnProtocols[0]),
  ].join('');

  const partB = hashList(sortedHex(ciphers));

  // SNI and ALPN are left out so the same client hashes alike whether it dials a name or an address.
  const hashedExtensions = sortedHex(
    extensions.filter((type) => type !== EXTENSION.serverName && type !== EXTENSION.alpn),
  );
  const signatureAlgorithms = withoutGrease(hello.signatureAlgorithms).map(hex4);
  const partC =
    hashedExtensions.length === 0
      ? EMPTY_LIST_HASH
      : truncatedSha256(
          signatureAlgorithms.length === 0
            ? hashedExtensions.join(',')
            : `${hashedExtensions.join(',')}_${signatureAlgorithms.join(',')}`,
        );

  return `${partA}_${partB}_${partC}`;
}

export interface Ja3 {
  /** e.g. "771,4865-4866-…,0-23-…,29-23-24,0" */
  text: string;
  /** MD5 of `text`, lower-case hex. */
  hash: string;
}

export function ja3(hello: ClientHelloInfo): Ja3 {
  const fields = [
    [hello.legacyVersion],
    withoutGrease(hello.cipherSuites),
    withoutGrease(hello.extensionTypes),
    withoutGrease(hello.supportedGroups),
    hello.ecPointFormats,
  ];
  const text = fields.map((values) => values.join('-')).join(',');
  return { text, hash: createHash('md5').update(text).digest('hex') };
}

/** First and last characters of the first ALPN value, or of its hex encoding when either byte is not alphanumeric. */
function alpnMarker(firstProtocol: Buffer | undefined): string {
  if (firstProtocol === undefined || firstProtocol.length === 0) return '00';
  const first = firstProtocol.readUInt8(0);
  const last = firstProtocol.readUInt8(firstProtocol.length - 1);
  if (isAsciiAlphanumeric(first) && isAsciiAlphanumeric(last)) return String.fromCharCode(first, last);
  const hex = firstProtocol.toString('hex');
  return hex.charAt(0) + hex.charAt(hex.length - 1);
}

function isAsciiAlphanumeric(byte: number): boolean {
  return (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a);
}

function twoDigitCount(count: number): string {
  return String(Math.min(count, MAX_COUNT)).padStart(2, '0');
}

function hex4(value: number): string {
  return value.toString(16).padStart(4, '0');
}

function sortedHex(values: readonly number[]): string[] {
  return [...values].sort((a, b) => a - b).map(hex4);
}

function hashList(hexValues: readonly string[]): string {
  return hexValues.length === 0 ? EMPTY_LIST_HASH : truncatedSha256(hexValues.join(','));
}

function truncatedSha256(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 12);
}
