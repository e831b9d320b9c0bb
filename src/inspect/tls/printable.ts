/**
 * Renders wire bytes (SNI, ALPN ids) as text that is safe to log and compare: printable ASCII is kept,
 * every other byte and the backslash itself become `\xNN`, so the rendering is unambiguous and a
 * hostile name cannot smuggle control characters, NULs or look-alike Unicode into events.
 */
export function toPrintableAscii(bytes: Uint8Array): string {
  let text = '';
  for (const byte of bytes) {
    const printable = byte >= 0x20 && byte <= 0x7e && byte !== 0x5c;
    text += printable ? String.fromCharCode(byte) : `\\x${byte.toString(16).padStart(2, '0')}`;
  }
  return text;
}
