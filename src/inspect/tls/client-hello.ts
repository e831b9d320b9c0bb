/**
 * Parser for the body of a TLS ClientHello handshake message (RFC 8446 §4.1.2, the bytes after the
 * 4-byte handshake header). Pure and total: any input yields either the hello's fields or an error
 * value, never an exception or an out-of-bounds read.
 */
import { ByteReader } from './byte-reader.js';
import { toPrintableAscii } from './printable.js';

/** Extension types read here (IANA "TLS ExtensionType Values"). */
export const EXTENSION = {
  serverName: 0x0000,
  supportedGroups: 0x000a,
  ecPointFormats: 0x000b,
  signatureAlgorithms: 0x000d,
  alpn: 0x0010,
  supportedVersions: 0x002b,
  encryptedClientHello: 0xfe0d,
} as const;

/** What a ClientHello offers. Lists keep wire order and GREASE values, so each fingerprint can apply its own rules. */
export interface ClientHelloInfo {
  /** `client_version` (`legacy_version` in TLS 1.3), e.g. 0x0303. */
  legacyVersion: number;
  cipherSuites: number[];
  /** Extension types in wire order, every occurrence. */
  extensionTypes: number[];
  /** First host_name of server_name, lower-cased, non-printable bytes escaped (see toPrintableAscii). */
  serverName?: string;
  /** ALPN protocol ids as raw bytes (they are byte strings, not necessarily text). */
  alpnProtocols: Buffer[];
  /** supported_versions values; `undefined` when the extension is absent. */
  supportedVersions?: number[];
  supportedGroups: number[];
  ecPointFormats: number[];
  signatureAlgorithms: number[];
  /** encrypted_client_hello (0xfe0d) is present: the SNI is only the outer public name. */
  ech: boolean;
  /** The hello came in the SSLv2-compatible record format (it then has no extensions). */
  sslv2Compat: boolean;
}

export interface HelloParseError {
  error: string;
}

const RANDOM_LENGTH = 32;
const MAX_SESSION_ID_LENGTH = 32;
const SERVER_NAME_TYPE_HOST_NAME = 0;

/** GREASE values (RFC 8701): 0x0a0a, 0x1a1a, … 0xfafa — both bytes equal, low nibble 0xa. */
export function isGrease(value: number): boolean {
  return (value & 0x0f0f) === 0x0a0a && value >> 8 === (value & 0xff);
}

export function withoutGrease(values: readonly number[]): number[] {
  return values.filter((value) => !isGrease(value));
}

/** The versions the client offers: supported_versions without GREASE, else the legacy version. */
export function offeredVersions(hello: ClientHelloInfo): number[] {
  const supported = withoutGrease(hello.supportedVersions ?? []);
  return supported.length > 0 ? supported : [hello.legacyVersion];
}

export function parseClientHello(body: Buffer): ClientHelloInfo | HelloParseError {
  const reader = new ByteReader(body);
  const legacyVersion = reader.u16();
  if (legacyVersion === undefined || reader.take(RANDOM_LENGTH) === undefined) {
    return { error: 'truncated before the end of random' };
  }
  const sessionId = reader.opaque8();
  if (sessionId === undefined || sessionId.length > MAX_SESSION_ID_LENGTH) return { error: 'bad legacy_session_id' };
  const cipherBytes = reader.opaque16();
  const cipherSuites = cipherBytes === undefined ? undefined : new ByteReader(cipherBytes).u16List();
  if (cipherSuites === undefined || cipherSuites.length === 0) return { error: 'bad cipher_suites' };
  const compressionMethods = reader.opaque8();
  if (compressionMethods === undefined || compressionMethods.length === 0) return { error: 'bad compression_methods' };

  const hello: ClientHelloInfo = {
    legacyVersion,
    cipherSuites,
    extensionTypes: [],
    alpnProtocols: [],
    supportedGroups: [],
    ecPointFormats: [],
    signatureAlgorithms: [],
    ech: false,
    sslv2Compat: false,
  };
  // Hellos from before extensions existed (SSL 3.0, some TLS 1.0 stacks) simply end here.
  if (reader.remaining === 0) return hello;
  const extensions = reader.opaque16();
  if (extensions === undefined || reader.remaining !== 0) return { error: 'extensions length does not match the message' };
  const problem = readExtensions(new ByteReader(extensions), hello);
  return problem === undefined ? hello : { error: problem };
}

/** Reads one extension's data into the hello; returns an error description when it is malformed. */
type ExtensionReader = (data: ByteReader, hello: ClientHelloInfo) => string | undefined;

const EXTENSION_READERS: ReadonlyMap<number, ExtensionReader> = new Map([
  [EXTENSION.serverName, readServerName],
  [EXTENSION.alpn, readAlpn],
  [EXTENSION.supportedVersions, readSupportedVersions],
  [EXTENSION.supportedGroups, readSupportedGroups],
  [EXTENSION.ecPointFormats, readEcPointFormats],
  [EXTENSION.signatureAlgorithms, readSignatureAlgorithms],
  [EXTENSION.encryptedClientHello, markEch],
]);

function readExtensions(reader: ByteReader, hello: ClientHelloInfo): string | undefined {
  const interpreted = new Set<number>();
  while (reader.remaining > 0) {
    const type = reader.u16();
    const data = reader.opaque16();
    if (type === undefined || data === undefined) return 'truncated extension';
    hello.extensionTypes.push(type);
    const read = EXTENSION_READERS.get(type);
    if (read === undefined) continue;
    // Two copies of an extension we read would make "the" SNI or ALPN ambiguous; servers refuse
    // duplicates too (RFC 8446 §4.2), so a hello carrying them is not one a real server would accept.
    if (interpreted.has(type)) return `duplicate extension 0x${type.toString(16).padStart(4, '0')}`;
    interpreted.add(type);
    const problem = read(new ByteReader(data), hello);
    if (problem !== undefined) return problem;
  }
  return undefined;
}

/** server_name (RFC 6066 §3): a list of (name_type, opaque name<1..2^16-1>). */
function readServerName(data: ByteReader, hello: ClientHelloInfo): string | undefined {
  // Some clients send the extension empty; it still counts as present for JA4.
  if (data.remaining === 0) return undefined;
  const listBytes = data.opaque16();
  if (listBytes === undefined || data.remaining !== 0) return 'bad server_name list';
  const list = new ByteReader(listBytes);
  while (list.remaining > 0) {
    const nameType = list.u8();
    const name = list.opaque16();
    if (nameType === undefined || name === undefined) return 'truncated server_name entry';
    if (nameType === SERVER_NAME_TYPE_HOST_NAME && hello.serverName === undefined) {
      hello.serverName = toPrintableAscii(name).toLowerCase();
    }
  }
  return undefined;
}

/** ALPN (RFC 7301 §3.1): ProtocolName protocol_name_list<2..2^16-1>, each opaque<1..2^8-1>. */
function readAlpn(data: ByteReader, hello: ClientHelloInfo): string | undefined {
  const listBytes = data.opaque16();
  if (listBytes === undefined || data.remaining !== 0) return 'bad ALPN list';
  const list = new ByteReader(listBytes);
  while (list.remaining > 0) {
    const protocol = list.opaque8();
    if (protocol === undefined) return 'truncated ALPN protocol';
    // Copy, so the facts do not pin the whole reassembled hello in memory.
    hello.alpnProtocols.push(Buffer.from(protocol));
  }
  return undefined;
}

/** supported_versions in a ClientHello (RFC 8446 §4.2.1): ProtocolVersion versions<2..254>. */
function readSupportedVersions(data: ByteReader, hello: ClientHelloInfo): string | undefined {
  const listBytes = data.opaque8();
  const versions = listBytes === undefined ? undefined : new ByteReader(listBytes).u16List();
  if (versions === undefined || data.remaining !== 0) return 'bad supported_versions';
  hello.supportedVersions = versions;
  return undefined;
}

/** ec_point_formats (RFC 8422 §5.1.2): ECPointFormat ec_point_format_list<1..2^8-1>. */
function readEcPointFormats(data: ByteReader, hello: ClientHelloInfo): string | undefined {
  const listBytes = data.opaque8();
  if (listBytes === undefined || data.remaining !== 0) return 'bad ec_point_formats';
  hello.ecPointFormats = new ByteReader(listBytes).u8List();
  return undefined;
}

/** supported_groups (RFC 8422 §5.1.1): NamedGroup named_group_list<2..2^16-1>. */
function readSupportedGroups(data: ByteReader, hello: ClientHelloInfo): string | undefined {
  const groups = wholeU16Vector(data);
  if (groups === undefined) return 'bad supported_groups';
  hello.supportedGroups = groups;
  return undefined;
}

/** signature_algorithms (RFC 8446 §4.2.3): SignatureScheme supported_signature_algorithms<2..2^16-2>. */
function readSignatureAlgorithms(data: ByteReader, hello: ClientHelloInfo): string | undefined {
  const schemes = wholeU16Vector(data);
  if (schemes === undefined) return 'bad signature_algorithms';
  hello.signatureAlgorithms = schemes;
  return undefined;
}

/** encrypted_client_hello: only its presence matters here (the inner hello is encrypted). */
function markEch(_data: ByteReader, hello: ClientHelloInfo): undefined {
  hello.ech = true;
  return undefined;
}

/** An extension body that is exactly one vector of two-byte values with a two-byte length prefix. */
function wholeU16Vector(data: ByteReader): number[] | undefined {
  const listBytes = data.opaque16();
  if (listBytes === undefined || data.remaining !== 0) return undefined;
  return new ByteReader(listBytes).u16List();
}
