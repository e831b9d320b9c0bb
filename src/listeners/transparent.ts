import net from 'node:net';
import type { EventBus } from '../events/bus.js';
import { endWithFarewell } from '../flow/farewell.js';
import type { ProtocolName } from '../inspect/types.js';
import { addressForJudging, formatAddress, parseIpLiteral } from '../net/address.js';
import { normaliseHostname } from '../net/hostname.js';
import type { NameMemory } from '../net/name-memory.js';
import { originalDestination, type OriginalDestination } from '../net/original-destination.js';
import type { Admission, Pipeline } from '../pipeline/pipeline.js';
import type { OriginalTarget } from '../pipeline/original-destination.js';
import { refusalBytes } from '../pipeline/protocol-refusal.js';
import { peekName } from './transparent-name.js';

/**
 * The transparent entry: connections that iptables `REDIRECT`ed here (nat OUTPUT in a sidecar network
 * namespace, nat PREROUTING on a gateway) from clients that know nothing of a proxy. The destination is
 * the one the client dialled, read back from conntrack (SO_ORIGINAL_DST); the agent is identified by
 * its source address; the name is the one the agent's DNS answers gave for that address (NameMemory),
 * else the TLS SNI or HTTP Host of its first bytes, else there is none and the bare address is judged.
 * From there it is the same pipeline as CONNECT: admission, peek and classification, relay.
 */

export interface TransparentOptions {
  names: NameMemory;
  /** How long to wait for the first bytes that carry a name (the pipeline's peek timeout). */
  peekMs: number;
  events: EventBus;
  /**
   * Where the connection was going. The kernel's answer (SO_ORIGINAL_DST) unless replaced — only tests
   * replace it, to drive the listener on loopback; the kernel path is proved in test/e2e/.
   */
  lookup?: (socket: net.Socket) => OriginalDestination;
}

/** The most read while looking for a name: a TLS ClientHello can span 64 KiB. */
const PEEK_BYTES = 64 * 1024;

export function createTransparentServer(pipeline: Pipeline, options: TransparentOptions): net.Server {
  return net.createServer({ allowHalfOpen: true, noDelay: true, pauseOnConnect: true }, (socket) => {
    socket.on('error', () => socket.destroy());
    void accept(pipeline, options, socket).catch(() => socket.destroy());
  });
}

async function accept(pipeline: Pipeline, options: TransparentOptions, socket: net.Socket): Promise<void> {
  const client = { address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 };
  const original = (options.lookup ?? originalDestination)(socket);
  if (!original.ok || isListenerItself(original, socket)) {
    // Not redirected: someone connected to the listener directly. Serving it would dial the listener
    // itself (a loop), so it is refused.
    const why = original.ok ? 'the connection was made to the transparent listener directly, not redirected to it' : original.message;
    options.events.emit({
      name: 'flow.denied',
      kind: 'alert',
      action: 'deny',
      ruleId: 'transparent.not-redirected',
      reason: `transparent listener: ${why}`,
      entry: 'transparent',
      source: { ip: client.address, port: client.port },
      ...(original.ok ? { destination: { ip: original.address, port: original.port } } : {}),
    });
    return void socket.destroy();
  }

  const policy = pipeline.policy;
  const agent = policy.identities.bySource(client.address) ?? policy.unknownAgent;
  const remembered = options.names.nameFor(agent.name, original.address);
  let name: { host: string; from: OriginalTarget['nameFrom'] } | undefined = remembered ? { host: remembered, from: 'dns-answer' } : undefined;
  let early: Buffer = Buffer.alloc(0);
  let protocol: ProtocolName = 'unknown';
  if (!name) {
    const peeked = await peekName(socket, options.peekMs, PEEK_BYTES);
    early = peeked.bytes;
    protocol = peeked.protocol;
    // An IP literal in SNI / Host says nothing more than the address itself (and must not redirect the flow).
    if (peeked.name && peeked.source && 'host' in normaliseHostname(peeked.name)) name = { host: peeked.name, from: peeked.source };
  }
  if (socket.destroyed) return;

  const admission = await pipeline.admit({
    entry: 'transparent',
    client,
    target: { host: name?.host ?? original.address, port: original.port },
    ...(name ? { original: { address: original.address, nameFrom: name.from } } : {}),
  });
  if (admission.kind !== 'admitted') return refuse(socket, admission, protocol);
  if (socket.destroyed) {
    pipeline.close(admission.flow, { outcome: 'failure', reason: 'client went away before the flow was dialled' });
    return;
  }
  // Nothing to acknowledge: the client's TCP handshake already completed with the listener.
  await pipeline.tunnel(admission.flow, socket, early, () => undefined);
}

/** A refusal in the client's protocol when its first bytes told it (HTTP 403, TLS alert), else a close. */
function refuse(socket: net.Socket, admission: Exclude<Admission, { kind: 'admitted' }>, protocol: ProtocolName): void {
  const reason = 'reason' in admission ? admission.reason : (admission.decision.reason ?? admission.decision.rule);
  const body: Record<string, string> = { error: admission.kind, reason };
  if ('flow' in admission) {
    body.rule = admission.flow.decision.rule;
    body.agent = admission.flow.agent.name;
    body.flow = admission.flow.id;
  }
  const answer = refusalBytes(protocol, reason, body);
  if (answer) endWithFarewell(socket, answer);
  else socket.destroy();
}

function isListenerItself(original: { address: string; port: number }, socket: net.Socket): boolean {
  return original.port === socket.localPort && comparable(original.address) === comparable(socket.localAddress ?? '');
}

/** One text per address, whatever the spelling (a dual-stack socket reports IPv4 as `::ffff:a.b.c.d`). */
function comparable(text: string): string {
  const ip = parseIpLiteral(text);
  return ip ? formatAddress(addressForJudging(ip)) : text;
}
