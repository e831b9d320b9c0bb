/**
 * What the inspector needs from the opening handshake (RFC 6455 §4): the subprotocols the client offered
 * and the extensions the server accepted, with permessage-deflate's parameters (RFC 7692 §7.1).
 */
import type { DeflateDirectionParams } from './deflate.js';

/** Handshake facts the inspector is constructed with. */
export interface WebSocketHandshakeInfo {
  /** Subprotocols offered by the client (request `Sec-WebSocket-Protocol`), in order. */
  subprotocols?: string[];
  /** The negotiated `Sec-WebSocket-Extensions` value of the 101 response. */
  extensions?: string;
}

export interface NegotiatedExtension {
  /** Lower-cased extension name, e.g. `permessage-deflate`. */
  name: string;
  /** Parameters by lower-cased name; a parameter without a value maps to ''. */
  params: Record<string, string>;
}

export interface ParsedWebSocketHandshake extends WebSocketHandshakeInfo {
  subprotocols: string[];
  /** The subprotocol the server chose (response `Sec-WebSocket-Protocol`). */
  selectedSubprotocol?: string;
  extensions: string;
  negotiatedExtensions: NegotiatedExtension[];
}

/** Decompression parameters per direction: `up` is compressed by the client, `down` by the server. */
export interface PerMessageDeflateParams {
  up: DeflateDirectionParams;
  down: DeflateDirectionParams;
}

/** Header maps use lower-cased names, repeated headers joined with ", ". */
export function parseWebSocketHandshake(
  requestHeaders: Record<string, string>,
  responseHeaders: Record<string, string>,
): ParsedWebSocketHandshake {
  const extensions = responseHeaders['sec-websocket-extensions'] ?? '';
  const selected = responseHeaders['sec-websocket-protocol']?.trim();
  return {
    subprotocols: splitList(requestHeaders['sec-websocket-protocol'] ?? ''),
    ...(selected ? { selectedSubprotocol: selected } : {}),
    extensions,
    negotiatedExtensions: parseExtensions(extensions),
  };
}

/** Parses an extension list: `name; param; param=value, name2` (quoted values are unquoted). */
export function parseExtensions(value: string): NegotiatedExtension[] {
  return splitList(value).map((extension) => {
    const [name = '', ...params] = extension.split(';').map((part) => part.trim());
    const entries = params.filter((param) => param !== '').map((param): [string, string] => {
      const equals = param.indexOf('=');
      if (equals < 0) return [param.toLowerCase(), ''];
      return [param.slice(0, equals).trim().toLowerCase(), unquote(param.slice(equals + 1).trim())];
    });
    // fromEntries defines own properties, so a hostile "__proto__" parameter stays a plain key.
    return { name: name.toLowerCase(), params: Object.fromEntries(entries) };
  });
}

/** permessage-deflate parameters from the negotiated extensions value, or undefined if not negotiated. */
export function perMessageDeflateParams(extensions: string | undefined): PerMessageDeflateParams | undefined {
  const deflate = parseExtensions(extensions ?? '').find((extension) => extension.name === 'permessage-deflate');
  if (deflate === undefined) return undefined;
  const { params } = deflate;
  return {
    up: {
      noContextTakeover: Object.hasOwn(params, 'client_no_context_takeover'),
      maxWindowBits: windowBits(params['client_max_window_bits']),
    },
    down: {
      noContextTakeover: Object.hasOwn(params, 'server_no_context_takeover'),
      maxWindowBits: windowBits(params['server_max_window_bits']),
    },
  };
}

/**
 * A valid value is 8–15. Anything else falls back to 15: a window larger than the sender's never breaks
 * decoding, it only costs a little more memory.
 */
function windowBits(value: string | undefined): number {
  const bits = value !== undefined && /^\d{1,2}$/.test(value) ? Number(value) : 15;
  return bits >= 8 && bits <= 15 ? bits : 15;
}

function splitList(value: string): string[] {
  return value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
}

function unquote(value: string): string {
  return value.length >= 2 && value.startsWith('"') && value.endsWith('"') ? value.slice(1, -1) : value;
}
