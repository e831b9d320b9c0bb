/**
 * HASSH fingerprints (salesforce/hassh): the MD5 of four KEXINIT name-lists joined with ";", taken
 * verbatim (pseudo-algorithms such as `ext-info-c` included).
 *
 * - hassh (client):       kex;enc_c2s;mac_c2s;comp_c2s from the SSH client's KEXINIT
 * - hasshServer (server): kex;enc_s2c;mac_s2c;comp_s2c from the SSH server's KEXINIT
 */
import { createHash } from 'node:crypto';
import type { KexInit } from './kexinit.js';

export interface Hassh {
  /** The `;`-joined algorithm string that is hashed. */
  algorithms: string;
  /** Lower-case hex MD5 of `algorithms`. */
  hash: string;
}

export function clientHassh(kexInit: KexInit): Hassh {
  return hassh([kexInit.kexAlgorithms, kexInit.encryptionClientToServer, kexInit.macClientToServer, kexInit.compressionClientToServer]);
}

export function serverHassh(kexInit: KexInit): Hassh {
  return hassh([kexInit.kexAlgorithms, kexInit.encryptionServerToClient, kexInit.macServerToClient, kexInit.compressionServerToClient]);
}

function hassh(lists: string[]): Hassh {
  const algorithms = lists.join(';');
  // The lists were decoded as latin1 (one character per wire byte): hash the wire bytes.
  return { algorithms, hash: createHash('md5').update(Buffer.from(algorithms, 'latin1')).digest('hex') };
}
