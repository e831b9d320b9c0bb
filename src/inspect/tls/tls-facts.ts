/** Turns a parsed ClientHello into the `TlsFacts` the rest of Chokepoint consumes. */
import type { TlsFacts } from '../types.js';
import { offeredVersions, type ClientHelloInfo } from './client-hello.js';
import { ja3, ja4 } from './ja4.js';
import { toPrintableAscii } from './printable.js';

const VERSION_NAMES: ReadonlyMap<number, string> = new Map([
  [0x0304, '1.3'],
  [0x0303, '1.2'],
  [0x0302, '1.1'],
  [0x0301, '1.0'],
  [0x0300, 'ssl3'],
  [0x0002, 'ssl2'],
]);

/** "1.3" for known versions, "0x7f1c" style for anything else (drafts, DTLS, garbage). */
export function versionName(version: number): string {
  return VERSION_NAMES.get(version) ?? `0x${version.toString(16).padStart(4, '0')}`;
}

export function toTlsFacts(hello: ClientHelloInfo): TlsFacts {
  const fingerprint3 = ja3(hello);
  const facts: TlsFacts = {
    alpn: hello.alpnProtocols.map(toPrintableAscii),
    versions: offeredVersions(hello).map(versionName),
    ja4: ja4(hello),
    ja3: fingerprint3.text,
    ja3Hash: fingerprint3.hash,
    ech: hello.ech,
  };
  if (hello.serverName !== undefined) facts.sni = hello.serverName;
  if (hello.sslv2Compat) facts.sslv2Compat = true;
  return facts;
}
