import type net from 'node:net';
import { endWithFarewell } from '../flow/farewell.js';
import { elapsedNs, type Flow } from '../flow/flow.js';
import { FlowClassifier } from '../inspect/flow-classifier.js';
import type { Direction } from '../inspect/types.js';
import type { FlowJudge, Verdict } from './flow-judge.js';
import type { Pipeline } from './pipeline.js';
import { refusalBytes, sshDisconnect, unreachableBytes } from './protocol-refusal.js';

/**
 * The life of a byte tunnel (CONNECT, SOCKS5, later transparent) after its target was allowed:
 *
 * 1. the agent is told the tunnel is open, and its first bytes are read *before* anything is dialled
 *    (bounded by `peekBytes` and `peekMs`); a silent agent (server-speaks-first protocols) gets the
 *    upstream dialled and the server's first bytes are read instead;
 * 2. the bytes are classified and judged (protocol allowed? SNI / Host as requested? detections?);
 *    a refused flow gets a refusal in its own protocol and never sends a byte upstream;
 * 3. otherwise the held bytes are forwarded and the relay runs, with the classifier still reading
 *    plaintext protocols until it has nothing more to learn.
 */

export interface TunnelOptions {
  peekMs: number;
  peekBytes: number;
}

export async function runTunnel(
  pipeline: Pipeline,
  judge: FlowJudge,
  options: TunnelOptions,
  flow: Flow,
  client: net.Socket,
  early: Buffer,
  acknowledge: () => void,
): Promise<void> {
  const classifier = new FlowClassifier(flow.target.host !== undefined ? { targetHost: flow.target.host } : {});
  const atMs = (): number => elapsedNs(flow) / 1e6;
  const heldUp: Buffer[] = [];
  let heldUpBytes = 0;
  const take = (chunk: Buffer): boolean => {
    heldUp.push(chunk);
    heldUpBytes += chunk.length;
    classifier.push(chunk, 'up', atMs());
    return !classifier.decided && heldUpBytes < options.peekBytes;
  };

  let upstream: net.Socket | undefined;
  const heldDown: Buffer[] = [];
  // Until the relay takes over, ending the flow (reload, quarantine, shutdown) closes the sockets and
  // leaves its reason in `revoked` for the close event.
  flow.terminate = (reason: string): void => {
    flow.revoked ??= reason;
    client.destroy();
    upstream?.destroy();
  };

  acknowledge();
  const wantMore = early.length > 0 ? take(early) : true;
  const clientRead = wantMore ? await readWhile(client, take, options.peekMs) : 'done';
  if (client.destroyed || flow.revoked !== undefined || (clientRead === 'ended' && heldUpBytes === 0)) {
    pipeline.close(flow, { outcome: 'failure', reason: flow.revoked ?? 'client closed the tunnel before sending anything' });
    client.destroy();
    return;
  }

  if (!classifier.decided && heldUpBytes === 0) {
    // A silent client: the server may speak first (SSH with pre-banner text, SMTP, databases).
    const dial = await pipeline.connect(flow);
    if (!dial.ok) return void client.destroy();
    upstream = dial.socket;
    await readWhile(upstream, (chunk) => {
      heldDown.push(chunk);
      classifier.push(chunk, 'down', atMs());
      return !classifier.decided;
    }, options.peekMs);
  }
  classifier.giveUp();
  flow.classifiedMs = atMs();

  const verdict = judge.judgeClassified(flow, classifier.classification);
  if (verdict.block) return refuse(pipeline, flow, client, upstream, classifier, verdict);

  const interception = pipeline.policy.ruleById(flow.decision.rule)?.intercept;
  if (interception && classifier.classification.protocol === 'ssh') {
    // Never relayed raw: without an interceptor the flow is refused.
    if (!pipeline.sshInterceptor) {
      upstream?.destroy();
      pipeline.close(flow, { outcome: 'failure', reason: 'SSH interception is not available in this proxy' });
      return endWithFarewell(client, sshDisconnect('SSH interception is not available in this proxy'));
    }
    // The server's bytes read while the agent was silent go back to the socket the SSH client will read.
    if (upstream && heldDown.length > 0) upstream.unshift(Buffer.concat(heldDown));
    return pipeline.sshInterceptor.intercept({
      pipeline, judge, flow, client, held: heldUp, classification: classifier.classification, interception,
      ...(upstream ? { upstream } : {}),
    });
  }
  if (interception && !pipeline.policy.ruleById(flow.decision.rule)?.protocols?.includes(classifier.classification.protocol)) {
    // Not SSH, on a rule that intercepts SSH and does not name this protocol: reached only when the
    // mismatch did not block (an audit-mode agent, protocol_not_allowed as an alert). Relaying it raw
    // would hand the destination bytes that no interception saw, so it is refused in every mode.
    const reason = `${classifier.classification.protocol} is not relayed on a connection whose rule intercepts SSH`;
    upstream?.destroy();
    pipeline.close(flow, { outcome: 'failure', reason });
    const answer = refusalBytes(classifier.classification.protocol, reason, { error: 'denied', reason, flow: flow.id });
    return answer ? endWithFarewell(client, answer) : void client.destroy();
  }

  if (!upstream) {
    const dial = await pipeline.connect(flow);
    if (!dial.ok) {
      const answer = unreachableBytes(classifier.classification.protocol, dial.message, { error: 'upstream_unreachable', reason: dial.message, flow: flow.id });
      if (answer) endWithFarewell(client, answer);
      else client.destroy();
      return;
    }
    upstream = dial.socket;
  }
  const handle = pipeline.relay(flow, client, upstream, classifier.listening ? inspectAlong : undefined, heldUp);
  // The server's held first bytes go out once the relay counts what the client is sent (the relay
  // only forwards later reads, so they still arrive first).
  for (const chunk of heldDown) if (!client.destroyed) client.write(chunk);
  function inspectAlong(chunk: Buffer, direction: Direction): boolean {
    const detections = classifier.push(chunk, direction, atMs());
    // Most chunks raise nothing: judge (and build the classification) only when something was found.
    const later: Verdict = detections.length === 0 ? { block: false } : judge.judgeDetections(flow, classifier.classification, detections);
    if (!classifier.listening) {
      handle.untap();
      // What was learnt since the first judgement (an SSH server's banner and HASSH) goes into the close event.
      judge.record(flow, classifier.classification);
    } else if (classifier.takeFactsSettled()) {
      // Still listening (SSH behaviour after NEWKEYS), but the facts for the close event are complete.
      judge.record(flow, classifier.classification);
    }
    if (!later.block) return true;
    pipeline.recordRefusal(flow, later);
    // Mid-stream, an SSH peer is past the identification exchange and would read our identification line
    // as a broken packet: only the other protocols get an answer in their own language here.
    const protocol = classifier.classification.protocol;
    const answer = direction === 'up' && protocol !== 'ssh' ? refusalBytes(protocol, later.reason, body(flow, later)) : undefined;
    handle.terminate(`${later.rule}: ${later.reason}`, answer);
    return false;
  }
}

function refuse(
  pipeline: Pipeline,
  flow: Flow,
  client: net.Socket,
  upstream: net.Socket | undefined,
  classifier: FlowClassifier,
  verdict: Extract<Verdict, { block: true }>,
): void {
  upstream?.destroy();
  pipeline.refuseClassified(flow, verdict);
  const answer = refusalBytes(classifier.classification.protocol, verdict.reason, body(flow, verdict));
  if (answer) endWithFarewell(client, answer);
  else client.destroy();
}

function body(flow: Flow, verdict: Extract<Verdict, { block: true }>): Record<string, string> {
  return { error: 'denied', reason: verdict.reason, rule: verdict.rule, agent: flow.agent.name, flow: flow.id };
}

/**
 * Reads `socket` and hands each chunk to `take` until it returns false, the socket ends, or `ms`
 * pass; then pauses the socket, so nothing is lost before the relay takes over.
 */
function readWhile(socket: net.Socket, take: (chunk: Buffer) => boolean, ms: number): Promise<'done' | 'timeout' | 'ended'> {
  return new Promise((resolve) => {
    const finish = (how: 'done' | 'timeout' | 'ended'): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('close', onEnd);
      socket.pause();
      resolve(how);
    };
    const onData = (chunk: Buffer): void => {
      if (!take(chunk)) finish('done');
    };
    const onEnd = (): void => finish('ended');
    const timer = setTimeout(() => finish('timeout'), ms);
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('close', onEnd);
    socket.resume();
  });
}
