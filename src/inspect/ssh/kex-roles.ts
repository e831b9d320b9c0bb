/**
 * What a key-exchange message says about its sender's SSH role. Messages 30–49 belong to the negotiated
 * key-exchange method (RFC 4250 §4.1.2), so the same number means different things per method.
 */
import type { KexInit } from './kexinit.js';
import { firstCommon } from './negotiation.js';

export type SshRole = 'client' | 'server';

/**
 * - `standard`: DH, ECDH/curve25519, hybrid PQ (RFC 4253 §8, RFC 5656) and DH group exchange (RFC 4419):
 *   the client sends 30 (init, or GEX request-old), 32 (GEX init) and 34 (GEX request); the server sends
 *   31 (reply, or GEX group) and 33 (GEX reply).
 * - `gss`: GSS-API key exchange (RFC 4462) reuses 31–34 in both directions; only its opening (the
 *   client's KEXGSS_INIT or GROUPREQ) is certain.
 * - `rsa`: RSA key exchange (RFC 4432): the *server* opens with 30 (PUBKEY), the client answers 31
 *   (SECRET), the server ends with 32 (DONE).
 * - `ambiguous`: the method depends on which side is the client, so no message can be trusted.
 */
export type KexFamily = 'standard' | 'gss' | 'rsa' | 'ambiguous';

function familyOf(kexName: string | undefined): KexFamily {
  if (kexName?.startsWith('gss-')) return 'gss';
  if (kexName !== undefined && /^rsa\d+-sha\d+$/.test(kexName)) return 'rsa';
  return 'standard';
}

/**
 * The family of the method the two sides will negotiate. The choice follows the client's list order,
 * and the client is what we are trying to find out, so both orders are tried; they must agree.
 * Without both KEXINITs the standard family is assumed.
 */
export function kexFamily(one: KexInit | undefined, other: KexInit | undefined): KexFamily {
  if (!one || !other) return 'standard';
  const ifOneIsClient = familyOf(firstCommon(one.kexAlgorithms, other.kexAlgorithms));
  const ifOtherIsClient = familyOf(firstCommon(other.kexAlgorithms, one.kexAlgorithms));
  return ifOneIsClient === ifOtherIsClient ? ifOneIsClient : 'ambiguous';
}

/** The role of the side that sent key-exchange message `code`, when the method makes it certain. */
export function senderRole(code: number, family: KexFamily, firstOfFlow: boolean): SshRole | undefined {
  switch (family) {
    case 'standard':
      if (code === 30 || code === 32 || code === 34) return 'client';
      if (code === 31 || code === 33) return 'server';
      return undefined;
    case 'gss':
      return firstOfFlow ? 'client' : undefined;
    case 'rsa':
      if (code === 30 || code === 32) return 'server';
      return code === 31 ? 'client' : undefined;
    case 'ambiguous':
      return undefined;
  }
}
