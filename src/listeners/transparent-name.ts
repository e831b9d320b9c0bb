import type net from 'node:net';
import { FlowClassifier, type FlowClassification } from '../inspect/flow-classifier.js';
import { hostOfHostHeader } from '../net/host-header.js';

/**
 * A redirected connection carries no host name of its own, only the address the agent dialled. When the
 * agent's DNS answers do not tell which name it meant, the name is read from its first bytes — the TLS
 * SNI or the HTTP Host header — the same way the tunnel classifier reads them (and the tunnel checks
 * every later request against the name chosen here).
 */

export interface PeekedName {
  /** Everything read, to be replayed into the tunnel (nothing is lost). */
  bytes: Buffer;
  name?: string;
  source?: 'sni' | 'host';
  protocol: FlowClassification['protocol'];
}

/** Reads until the protocol says whether it carries a name, `maxBytes` are read, or `ms` pass. */
export function peekName(socket: net.Socket, ms: number, maxBytes: number): Promise<PeekedName> {
  const classifier = new FlowClassifier();
  const chunks: Buffer[] = [];
  let total = 0;
  return new Promise((resolve) => {
    const finish = (): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', finish);
      socket.off('close', finish);
      socket.pause();
      resolve({ bytes: Buffer.concat(chunks), protocol: classifier.classification.protocol, ...nameIn(classifier.classification) });
    };
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      total += chunk.length;
      classifier.push(chunk, 'up', 0);
      if (total >= maxBytes || settled(classifier.classification)) finish();
    };
    const timer = setTimeout(finish, ms);
    socket.on('data', onData);
    socket.once('end', finish);
    socket.once('close', finish);
    socket.resume();
  });
}

/** Decided, and for HTTP the request head (with its Host header, if any) has been read. */
function settled(classification: FlowClassification): boolean {
  if (!classification.decided) return false;
  return classification.protocol !== 'http' || classification.http !== undefined;
}

function nameIn(classification: FlowClassification): { name?: string; source?: 'sni' | 'host' } {
  const sni = classification.tls?.sni;
  if (sni) return { name: sni, source: 'sni' };
  const host = classification.http?.host;
  if (host) return { name: hostOfHostHeader(host), source: 'host' };
  return {};
}
