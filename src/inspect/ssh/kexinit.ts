/**
 * SSH message numbers the classifier reads in the cleartext phase, and the SSH_MSG_KEXINIT parser
 * (RFC 4253 §7.1).
 */

export const SSH_MSG_KEXINIT = 20;
export const SSH_MSG_NEWKEYS = 21;
/** RFC 4250 §4.1.2: numbers 30–49 are specific to the key-exchange method (see kex-roles.ts). */
export function isKexMethodMessage(code: number): boolean {
  return code >= 30 && code <= 49;
}

/**
 * The ten name-lists, each as sent (comma-separated). Kept verbatim because HASSH hashes the lists
 * exactly as the peer wrote them, odd or empty entries included.
 */
export interface KexInit {
  cookie: Buffer;
  kexAlgorithms: string;
  serverHostKeyAlgorithms: string;
  encryptionClientToServer: string;
  encryptionServerToClient: string;
  macClientToServer: string;
  macServerToClient: string;
  compressionClientToServer: string;
  compressionServerToClient: string;
  languagesClientToServer: string;
  languagesServerToClient: string;
  firstKexPacketFollows: boolean;
}

const NAME_LIST_FIELDS = [
  'kexAlgorithms',
  'serverHostKeyAlgorithms',
  'encryptionClientToServer',
  'encryptionServerToClient',
  'macClientToServer',
  'macServerToClient',
  'compressionClientToServer',
  'compressionServerToClient',
  'languagesClientToServer',
  'languagesServerToClient',
] as const;
type NameListField = (typeof NAME_LIST_FIELDS)[number];

const COOKIE_BYTES = 16;

/** Parses a KEXINIT payload (starting with the message number 20). Never throws. */
export function parseKexInit(payload: Buffer): { ok: true; kexInit: KexInit } | { ok: false; reason: string } {
  if (payload[0] !== SSH_MSG_KEXINIT) return { ok: false, reason: 'not a KEXINIT message' };
  let offset = 1;
  if (payload.length < offset + COOKIE_BYTES) return { ok: false, reason: 'KEXINIT truncated in the cookie' };
  const cookie = Buffer.from(payload.subarray(offset, offset + COOKIE_BYTES));
  offset += COOKIE_BYTES;
  // Every field is assigned by the loop below, which walks all of NAME_LIST_FIELDS.
  const lists = {} as Record<NameListField, string>;
  for (const field of NAME_LIST_FIELDS) {
    if (payload.length < offset + 4) return { ok: false, reason: `KEXINIT truncated before ${field}` };
    const length = payload.readUInt32BE(offset);
    offset += 4;
    if (payload.length - offset < length) return { ok: false, reason: `KEXINIT ${field} runs past the packet` };
    // latin1 maps each byte to one character, so the hash input can be turned back into the exact bytes.
    lists[field] = payload.toString('latin1', offset, offset + length);
    offset += length;
  }
  const firstKexPacketFollows = payload[offset];
  // The trailing reserved uint32 is not needed and not required.
  if (firstKexPacketFollows === undefined) return { ok: false, reason: 'KEXINIT truncated before first_kex_packet_follows' };
  return { ok: true, kexInit: { cookie, ...lists, firstKexPacketFollows: firstKexPacketFollows !== 0 } };
}

/** Splits a name-list into names, dropping empty entries. */
export function names(nameList: string): string[] {
  return nameList.split(',').filter((name) => name.length > 0);
}
