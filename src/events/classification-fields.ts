import type { FlowClassification } from '../inspect/flow-classifier.js';
import type { ClassificationFields } from './types.js';

/**
 * The facts of a classification as event fields: short, flat, and never a full wallet or token. Members
 * are written in sorted order, so the event's canonical JSON needs no sorting (src/events/bus.ts).
 */
export function classificationFields(classification: FlowClassification): ClassificationFields {
  const { tls, http, ssh, stratum } = classification;
  return {
    ...(http
      ? {
          http: {
            ...(http.host ? { host: http.host } : {}),
            method: http.method,
            target: http.target.slice(0, 512),
            ...(http.upgrade ? { upgrade: http.upgrade } : {}),
            ...(http.userAgent ? { user_agent: http.userAgent.slice(0, 256) } : {}),
          },
        }
      : {}),
    ...(ssh
      ? {
          ssh: {
            ...(ssh.clientBanner ? { client_banner: ssh.clientBanner } : {}),
            ...(ssh.hassh ? { hassh: ssh.hassh } : {}),
            ...(ssh.hasshServer ? { hassh_server: ssh.hasshServer } : {}),
            ...(ssh.serverBanner ? { server_banner: ssh.serverBanner } : {}),
          },
        }
      : {}),
    ...(stratum ? { stratum: { ...stratum } } : {}),
    ...(tls ? { tls: { alpn: tls.alpn, ech: tls.ech, ja3: tls.ja3Hash, ja4: tls.ja4, ...(tls.sni ? { sni: tls.sni } : {}), versions: tls.versions } } : {}),
    ...(classification.websocket ? { websocket: true } : {}),
  };
}
