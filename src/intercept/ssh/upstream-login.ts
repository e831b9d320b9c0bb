import type net from 'node:net';
import ssh2 from 'ssh2';
import type { SshInterception } from '../../policy/types.js';
import { sshFingerprint } from './fingerprint.js';

/**
 * Chokepoint's own SSH login to the destination, over the socket the pipeline dialled (so SSRF vetting
 * and the pinned addresses apply): the host key must match the rule's pin, and the proxy-held key
 * authenticates. Resolves once the connection is ready, or with a reason an agent can read.
 */

export type UpstreamLogin =
  | { ok: true; client: ssh2.Client; hostKey: string }
  | { ok: false; code: 'SSH_HOST_KEY_MISMATCH' | 'SSH_AUTH_FAILED' | 'SSH_UPSTREAM_ERROR'; message: string };

export function loginUpstream(socket: net.Socket, interception: SshInterception, privateKey: string, destination: string, timeoutMs: number): Promise<UpstreamLogin> {
  return new Promise((resolve) => {
    const client = new ssh2.Client();
    let presented: string | undefined;
    let settled = false;
    const settle = (result: UpstreamLogin): void => {
      if (settled) return;
      settled = true;
      if (!result.ok) {
        client.removeAllListeners('ready');
        client.end();
        socket.destroy();
      }
      resolve(result);
    };
    client.once('ready', () => settle({ ok: true, client, hostKey: presented ?? interception.hostKeySha256 }));
    client.on('error', (error: Error & { level?: string }) => {
      if (presented !== undefined && presented !== interception.hostKeySha256) {
        settle({
          ok: false,
          code: 'SSH_HOST_KEY_MISMATCH',
          message: `the host key of ${destination} is ${presented}, not the pinned ${interception.hostKeySha256}; refusing to log in (possible interception, or the server's key changed: an operator must update host_key_sha256)`,
        });
      } else if (error.level === 'client-authentication') {
        settle({ ok: false, code: 'SSH_AUTH_FAILED', message: `${destination} refused Chokepoint's login as ${interception.user} (key ${interception.key}); an operator must install the proxy's key there` });
      } else {
        settle({ ok: false, code: 'SSH_UPSTREAM_ERROR', message: `SSH to ${destination} failed: ${error.message}` });
      }
    });
    client.once('close', () => settle({ ok: false, code: 'SSH_UPSTREAM_ERROR', message: `${destination} closed the connection during Chokepoint's SSH login` }));
    client.connect({
      sock: socket,
      username: interception.user,
      privateKey,
      readyTimeout: timeoutMs,
      // Keep-alives from the proxy: a session that idles behind an agent's own keep-alives stays up.
      keepaliveInterval: 30_000,
      hostVerifier: (key: Buffer): boolean => {
        presented = sshFingerprint(key);
        return presented === interception.hostKeySha256;
      },
    });
  });
}
