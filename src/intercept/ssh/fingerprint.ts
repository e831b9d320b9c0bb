import { createHash } from 'node:crypto';

/** OpenSSH's fingerprint of a public key blob (wire format): "SHA256:" + unpadded base64 of its SHA-256. */
export function sshFingerprint(publicKeyBlob: Buffer): string {
  return `SHA256:${createHash('sha256').update(publicKeyBlob).digest('base64').replace(/=+$/, '')}`;
}
