import type { FlowClassification } from '../inspect/flow-classifier.js';
import type { ClassificationFields } from './types.js';

/** The facts of a classification as event fields: short, flat, and never a full wallet or token. */
export function classificationFields(classification: FlowClassification): ClassificationFields {
  const { tls, http, ssh, stratum } = classification;
  return {
    ...(tls ? { tls: { ...(tls.sni ? { sni: tls.sni } : {}), alpn: tls.alpn, versions: tls.versions, ja4: tls.ja4, ja3: tls.ja3Hash, ech: tls.ech } } : {}),
    ...(http
      ? {
          http: {
            method: http.method,
            target: http.target.slice(0, 512),
            ...(http.host ? { host: http.host } : {}),
            ...(http.userAgent ? { user_agent: http.userAgent.slice(0, 256) } : {}),
            ...(http.upgrade ? { upgrade: http.upgrade } : {}),
          },
        }
      : {}),
    ...(ssh
      ? {
          ssh: {
            ...(ssh.clientBanner ? { client_banner: ssh.clientBanner } : {}),
            ...(ssh.serverBanner ? { server_banner: ssh.serverBanner } : {}),
            ...(ssh.hassh ? { hassh: ssh.hassh } : {}),
            ...(ssh.hasshServer ? { hassh_server: ssh.hasshServer } : {}),
          },
        }
      : {}),
    ...(stratum ? { stratum: { ...stratum } } : {}),
    ...(classification.websocket ? { websocket: true } : {}),
  };
}
