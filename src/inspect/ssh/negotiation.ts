/**
 * Algorithm negotiation as both peers compute it (RFC 4253 §7.1): in every category the chosen algorithm
 * is the first one in the *client's* list that the server also lists.
 */
import { names, type KexInit } from './kexinit.js';

/**
 * Ciphers that authenticate by themselves. With these the MAC lists are ignored (OpenSSH logs the MAC as
 * `<implicit>`, Go x/crypto negotiates none), so no MAC is reported.
 */
const AEAD_CIPHERS: ReadonlySet<string> = new Set([
  'chacha20-poly1305@openssh.com',
  'aes128-gcm@openssh.com',
  'aes256-gcm@openssh.com',
  'AEAD_AES_128_GCM',
  'AEAD_AES_256_GCM',
]);

export function isAeadCipher(cipher: string): boolean {
  return AEAD_CIPHERS.has(cipher);
}

/** What protects the packets sent in one direction. */
export interface DirectionAlgorithms {
  cipher?: string;
  /** Absent when the cipher is AEAD or no MAC is common to both lists. */
  mac?: string;
  compression?: string;
  aead: boolean;
}

export interface NegotiatedAlgorithms {
  kex?: string;
  hostKey?: string;
  clientToServer: DirectionAlgorithms;
  serverToClient: DirectionAlgorithms;
}

/** Each field is absent when the two lists share no algorithm (the real handshake would fail there). */
export function negotiate(client: KexInit, server: KexInit): NegotiatedAlgorithms {
  return {
    kex: firstCommon(client.kexAlgorithms, server.kexAlgorithms),
    hostKey: firstCommon(client.serverHostKeyAlgorithms, server.serverHostKeyAlgorithms),
    clientToServer: direction(
      [client.encryptionClientToServer, server.encryptionClientToServer],
      [client.macClientToServer, server.macClientToServer],
      [client.compressionClientToServer, server.compressionClientToServer],
    ),
    serverToClient: direction(
      [client.encryptionServerToClient, server.encryptionServerToClient],
      [client.macServerToClient, server.macServerToClient],
      [client.compressionServerToClient, server.compressionServerToClient],
    ),
  };
}

/** Each pair is [client's list, server's list] for the same direction. */
type ListPair = [clientList: string, serverList: string];

function direction(ciphers: ListPair, macs: ListPair, compressions: ListPair): DirectionAlgorithms {
  const cipher = firstCommon(...ciphers);
  const aead = cipher !== undefined && isAeadCipher(cipher);
  return { cipher, mac: aead ? undefined : firstCommon(...macs), compression: firstCommon(...compressions), aead };
}

/** The first name of the client's list that the server's list also holds. */
export function firstCommon(clientList: string, serverList: string): string | undefined {
  const offered = new Set(names(serverList));
  return names(clientList).find((name) => offered.has(name));
}
