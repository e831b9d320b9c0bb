/**
 * Sizes of encrypted SSH packets on the wire, from the negotiated cipher and MAC of one direction
 * (protocol notes §2.3–2.4). The proxy cannot read encrypted payloads, but OpenSSH pads minimally, so the
 * size of a message with a known payload length is predictable:
 *
 *   wire size = 4 (length) + 1 (padding_length) + P (payload) + padding + T (tag or MAC)
 *
 * where padding is the smallest value ≥ 4 that aligns the encrypted region to the cipher block; the
 * length field is outside that region for AEAD ciphers and `-etm` MACs.
 */
import type { DirectionAlgorithms } from '../negotiation.js';

export interface PacketGeometry {
  /** Cipher block size used for padding (8 for chacha20 and 64-bit block ciphers, 16 for AES). */
  blockBytes: number;
  /** Authentication tag or MAC length appended to every packet. */
  tagBytes: number;
  /** The 4-byte length is sent in clear (AES-GCM, any `-etm` MAC): exact packet framing is possible. */
  lengthInClear: boolean;
  /** The length field is outside the aligned region (AEAD ciphers and `-etm` MACs). */
  lengthOutsideAlignment: boolean;
}

/** MAC output lengths (RFC 4253 §6.4, RFC 6668, OpenSSH `mac.c`); `-etm@openssh.com` variants share them. */
const MAC_BYTES: Readonly<Record<string, number>> = {
  'hmac-sha2-256': 32,
  'hmac-sha2-512': 64,
  'hmac-sha1': 20,
  'hmac-sha1-96': 12,
  'hmac-md5': 16,
  'hmac-md5-96': 12,
  'hmac-ripemd160': 20,
  'hmac-ripemd160@openssh.com': 20,
  'umac-64@openssh.com': 8,
  'umac-128@openssh.com': 16,
};

const ETM_SUFFIX = '-etm@openssh.com';

/** `hmac-sha2-256-etm@openssh.com` → `hmac-sha2-256`; `umac-64-etm@openssh.com` → `umac-64@openssh.com`. */
function macBase(mac: string): string {
  if (!mac.endsWith(ETM_SUFFIX)) return mac;
  const base = mac.slice(0, -ETM_SUFFIX.length);
  return base.startsWith('umac-') ? `${base}@openssh.com` : base;
}

function blockBytesOf(cipher: string): number | undefined {
  if (cipher === 'chacha20-poly1305@openssh.com') return 8;
  if (cipher.startsWith('aes') || cipher.startsWith('AEAD_AES') || cipher.startsWith('rijndael') || cipher.startsWith('twofish') || cipher.startsWith('serpent') || cipher.startsWith('camellia')) return 16;
  if (cipher.startsWith('3des') || cipher.startsWith('blowfish') || cipher.startsWith('cast128') || cipher.startsWith('idea')) return 8;
  return undefined;
}

/**
 * The geometry of one direction, or a reason why sizes cannot be predicted (unknown cipher or MAC,
 * compression that changes every size).
 */
export function packetGeometry(algorithms: DirectionAlgorithms): PacketGeometry | { unpredictable: string } {
  const cipher = algorithms.cipher;
  if (cipher === undefined) return { unpredictable: 'no cipher was negotiated' };
  if (algorithms.compression !== undefined && algorithms.compression !== 'none') {
    return { unpredictable: `compression ${algorithms.compression} changes every packet size` };
  }
  const blockBytes = blockBytesOf(cipher);
  if (blockBytes === undefined) return { unpredictable: `unknown cipher ${cipher}` };
  if (algorithms.aead) {
    // chacha20-poly1305 encrypts its length with a separate key; the GCM ciphers send it in clear (AAD).
    const chacha = cipher === 'chacha20-poly1305@openssh.com';
    return { blockBytes, tagBytes: 16, lengthInClear: !chacha, lengthOutsideAlignment: true };
  }
  const mac = algorithms.mac;
  if (mac === undefined) return { unpredictable: 'no MAC was negotiated' };
  const tagBytes = MAC_BYTES[macBase(mac)];
  if (tagBytes === undefined) return { unpredictable: `unknown MAC ${mac}` };
  const etm = mac.endsWith(ETM_SUFFIX);
  return { blockBytes, tagBytes, lengthInClear: etm, lengthOutsideAlignment: etm };
}

/** Wire size of a packet whose payload is `payloadBytes` long, with OpenSSH's minimal padding. */
export function wireSize(geometry: PacketGeometry, payloadBytes: number): number {
  const aligned = 1 + payloadBytes + (geometry.lengthOutsideAlignment ? 0 : 4);
  let padding = geometry.blockBytes - (aligned % geometry.blockBytes);
  if (padding < 4) padding += geometry.blockBytes;
  return 4 + 1 + payloadBytes + padding + geometry.tagBytes;
}
