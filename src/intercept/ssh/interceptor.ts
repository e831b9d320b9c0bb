import { flowEventFields } from '../../flow/event-fields.js';
import type net from 'node:net';
import ssh2 from 'ssh2';
import type { EventBus } from '../../events/bus.js';
import type { EventInput } from '../../events/types.js';
import { endWithFarewell } from '../../flow/farewell.js';
import { elapsedNs, type Flow } from '../../flow/flow.js';
import type { FlowClassification } from '../../inspect/flow-classifier.js';
import type { FlowJudge } from '../../pipeline/flow-judge.js';
import type { Pipeline } from '../../pipeline/pipeline.js';
import { sshDisconnect } from '../../pipeline/protocol-refusal.js';
import type { SshInterception } from '../../policy/types.js';
import { loadOrCreateHostKey, type HostKey } from './host-key.js';
import { rejectWithDescription } from './open-failure.js';
import { answerAndClose, FAILED_EXIT_STATUS, relaySession, type LiveChannels } from './session-relay.js';
import { describeSessionPolicy, judgeEnv, judgeExec, judgeShell, judgeSubsystem, printable } from './session-policy.js';
import { readProxyKey } from './upstream-key.js';
import { loginUpstream } from './upstream-login.js';
import { messageOf } from '../../error-message.js';

/**
 * `intercept: ssh`: the agent's SSH connection ends here. Chokepoint first logs in upstream itself (over
 * the pipeline's vetted, dialled socket, pinned host key, proxy-held key) and only then answers the
 * agent, so an upstream failure is told to the agent in cleartext before any key exchange — ssh prints
 * "Received disconnect … chokepoint: <reason>" — and not a byte of the agent's SSH ever reaches the
 * destination raw. The agent is then served by an ssh2 Server on its own socket (its peeked bytes
 * replayed), authenticated by accepting any method: the pipeline already identified the agent (source
 * address or proxy credentials) before a byte of SSH was read, and the agent must need no secret of
 * its own. Sessions are relayed (session-relay.ts); every kind of forwarding is refused with text the
 * agent's ssh prints, and `ssh -R` is also a `detection.reverse_tunnel`.
 */

export interface SshInterceptorOptions {
  certsDir: string;
  /** Bound on Chokepoint's upstream SSH handshake and login. */
  loginMs: number;
  idleMs: number;
}

export interface InterceptedFlow {
  pipeline: Pipeline;
  judge: FlowJudge;
  flow: Flow;
  client: net.Socket;
  /** The agent's bytes read while classifying: replayed into the SSH server. */
  held: readonly Buffer[];
  /** Already dialled (a silent agent made the pipeline dial first), with the server's bytes put back. */
  upstream?: net.Socket;
  classification: FlowClassification;
  interception: SshInterception;
}

/**
 * Session channels one agent connection may have open at once, as sshd's MaxSessions default. Each
 * one waiting for its upstream program holds up to an SSH window (2 MiB) of the agent's bytes, so an
 * unbounded count would let one connection grow the proxy's memory without end.
 */
export const MAX_SESSIONS_PER_CONNECTION = 10;

/** How long a refused connection stays open so that sessions opened right after can be told why. */
const REFUSAL_LINGER_MS = 2_000;

export class SshInterceptor {
  private hostKeyLoad: Promise<HostKey> | undefined;
  /** The key loaded, and whether its event is out: it waits for proxy.started, which opens the hash chain. */
  private loadedKey: HostKey | undefined;
  private keyAnnounced = false;
  private proxyStarted = false;

  constructor(
    private readonly events: EventBus,
    private readonly options: SshInterceptorOptions,
  ) {}

  /** The host key agents see, generated on first use; its fingerprint is an event, once. */
  hostKey(): Promise<HostKey> {
    this.hostKeyLoad ??= loadOrCreateHostKey(this.options.certsDir).then(
      (key) => {
        this.loadedKey = key;
        this.announceHostKey();
        return key;
      },
      (error: unknown) => {
        // Not cached: the next interception retries (a certs volume mounted late, permissions fixed).
        this.hostKeyLoad = undefined;
        throw error;
      },
    );
    return this.hostKeyLoad;
  }

  /**
   * The proxy has announced itself (proxy.started, the first event of a chain): a key loaded at startup is
   * announced now, so that no event comes before the one verify-log expects a chain to start with.
   */
  started(): void {
    this.proxyStarted = true;
    this.announceHostKey();
  }

  private announceHostKey(): void {
    const key = this.loadedKey;
    if (!this.proxyStarted || key === undefined || this.keyAnnounced) return;
    this.keyAnnounced = true;
    this.events.emit({
      name: 'ssh.host_key',
      kind: 'state',
      reason: `SSH interception host key ${key.fingerprint} (${key.created ? 'generated' : 'loaded'}); agents pin this fingerprint`,
      details: { fingerprint: key.fingerprint, public_key: key.publicLine, file: key.file, created: key.created },
    });
  }

  async intercept(intercepted: InterceptedFlow): Promise<void> {
    const { pipeline, flow, client, interception } = intercepted;
    const destination = `${flow.target.host ?? flow.target.requested}:${flow.target.port}`;
    let upstreamSocket = intercepted.upstream;
    flow.terminate = (reason: string): void => {
      flow.revoked ??= reason;
      client.destroy();
      upstreamSocket?.destroy();
    };
    const fail = (code: string, message: string, closed: boolean): void => {
      upstreamSocket?.destroy();
      this.emit('ssh.upstream_failed', flow, { kind: 'alert', outcome: 'failure', reason: message, error: { code, message } });
      if (!client.destroyed) endWithFarewell(client, sshDisconnect(message));
      if (!closed) pipeline.close(flow, { outcome: 'failure', reason: message, error: { code, message } });
    };

    let hostKey: HostKey;
    try {
      hostKey = await this.hostKey();
    } catch (error) {
      return fail('SSH_HOST_KEY_UNAVAILABLE', `SSH interception of ${destination} is unavailable: the proxy's host key cannot be loaded (${messageOf(error)})`, false);
    }
    const keyRead = await readProxyKey(this.options.certsDir, interception.key);
    if (!keyRead.ok) return fail('SSH_KEY_UNAVAILABLE', `SSH interception of ${destination} is misconfigured: ${keyRead.reason}`, false);
    const privateKey = keyRead.privateKey;
    if (flow.revoked !== undefined) return fail('REVOKED', flow.revoked, false);
    if (!upstreamSocket) {
      const dial = await pipeline.connect(flow);
      // connect() has closed the flow (event) on failure.
      if (!dial.ok) return fail(dial.code, `${destination} is unreachable: ${dial.message}`, true);
      upstreamSocket = dial.socket;
    }
    const login = await loginUpstream(upstreamSocket, interception, privateKey, destination, this.options.loginMs);
    // A revocation during the login destroyed the sockets: that, not the login, is why it failed.
    if (!login.ok) return flow.revoked !== undefined ? fail('REVOKED', flow.revoked, false) : fail(login.code, login.message, false);
    if (flow.revoked !== undefined || client.destroyed) {
      login.client.end();
      return fail('REVOKED', flow.revoked ?? 'the agent closed the connection during the upstream login', false);
    }
    this.serve(intercepted, login.client, upstreamSocket, hostKey);
  }

  private serve(intercepted: InterceptedFlow, upstream: ssh2.Client, upstreamSocket: net.Socket, hostKey: HostKey): void {
    const { pipeline, judge, flow, client, interception } = intercepted;
    const destination = `${flow.target.host ?? flow.target.requested}:${flow.target.port}`;
    const live: LiveChannels = new Set();
    const allowed = describeSessionPolicy(interception);
    let agentUser = '';
    let refusal: string | undefined;
    let failed = false;
    let lingerTimer: NodeJS.Timeout | undefined;
    let connection: ssh2.Connection | undefined;
    let sessions = 0;

    /** Ends the connection, telling each open session (and any opened within the linger) why. */
    const refuseConnection = (reason: string): void => {
      if (refusal !== undefined) return;
      refusal = reason;
      failed = true;
      for (const channel of live) answerAndClose(channel, reason, FAILED_EXIT_STATUS);
      upstream.end();
      lingerTimer = setTimeout(() => {
        // A disconnect, then the socket's end; a client that keeps it open anyway is cut off.
        connection?.end();
        lingerTimer = setTimeout(() => client.destroy(), REFUSAL_LINGER_MS);
      }, REFUSAL_LINGER_MS);
    };
    flow.terminate = (reason: string): void => {
      flow.revoked ??= reason;
      refuseConnection(reason);
    };
    /**
     * The rule as the current policy has it: a reload that changed its interception (a narrower exec
     * list, another key, pin or user) ends the connection, whose sessions were admitted under the old
     * one. Checked on every reload and before every program starts (a reload during the login).
     */
    const outdated = (): string | undefined => {
      if (refusal !== undefined) return refusal;
      const current = pipeline.policy.ruleById(flow.decision.rule)?.intercept;
      if (current !== undefined && sameInterception(current, interception)) return undefined;
      const reason = `policy reload: the SSH interception rule for ${destination} changed; reconnect to work under the new rule`;
      refuseConnection(reason);
      return reason;
    };
    flow.reconsider = (): void => void outdated();
    const refused = (request: string, reason: string, extra: Record<string, unknown> = {}): void =>
      this.emit('ssh.refused', flow, {
        kind: 'alert',
        action: 'deny',
        ruleId: flow.decision.rule,
        reason,
        details: { ssh: { request, agent_user: agentUser, upstream_user: interception.user, ...extra } },
      });

    const server = new ssh2.Server({ hostKeys: [hostKey.privateKey], ident: 'Chokepoint' }, (conn) => {
      connection = conn;
      conn.on('error', () => {
        // The socket's close ends the flow; an SSH protocol error from the agent needs no more.
      });
      conn.on('authentication', (context) => {
        agentUser = printable(context.username);
        context.accept();
      });
      conn.on('session', (accept, reject) => {
        if (sessions >= MAX_SESSIONS_PER_CONNECTION) {
          const reason = `at most ${MAX_SESSIONS_PER_CONNECTION} sessions may be open at once on one connection through Chokepoint's SSH interception of ${destination}`;
          refused('session', reason);
          return rejectWithDescription(conn, reject, `chokepoint: ${reason}`);
        }
        const session = accept();
        sessions += 1;
        session.once('close', () => (sessions -= 1));
        relaySession(
          session,
          upstream,
          {
            judgeExec: (command) => judgeExec(interception, command),
            judgeShell: () => judgeShell(interception),
            judgeSubsystem: (name) => judgeSubsystem(interception, name),
            judgeEnv: (name, value) => judgeEnv(interception, name, value),
            refusal: outdated,
            refused: (what, reason, command) => refused(what, reason, command === undefined ? {} : { command: printable(command) }),
            started: (what, command) =>
              this.emit('ssh.command', flow, {
                kind: 'event',
                reason: `${what}${command === undefined ? '' : `: ${printable(command)}`}`,
                details: { ssh: { request: what, ...(command === undefined ? {} : { command: printable(command) }), agent_user: agentUser, upstream_user: interception.user } },
              }),
          },
          live,
        );
      });
      conn.on('tcpip', (_accept, reject, info) => {
        const reason = `port forwarding (ssh -L / -D) to ${printable(info.destIP)}:${info.destPort} is not allowed through Chokepoint's SSH interception of ${destination}; ${allowed}`;
        refused('direct-tcpip', reason, { target: `${printable(info.destIP)}:${info.destPort}` });
        rejectWithDescription(conn, reject, `chokepoint: ${reason}`);
      });
      conn.on('openssh.streamlocal', (_accept, reject, info) => {
        const reason = `Unix socket forwarding to ${printable(info.socketPath)} is not allowed through Chokepoint's SSH interception of ${destination}; ${allowed}`;
        refused('direct-streamlocal', reason);
        rejectWithDescription(conn, reject, `chokepoint: ${reason}`);
      });
      const onGlobalRequest = (_accept: unknown, reject: (() => void) | undefined, name: string, info: ssh2.TcpipBindInfo | ssh2.SocketBindInfo): void => {
        reject?.();
        if (name !== 'tcpip-forward' && name !== 'streamlocal-forward@openssh.com') return;
        const bind = 'bindPort' in info ? `${printable(info.bindAddr)}:${info.bindPort}` : printable(info.socketPath);
        const verdict = judge.judgeDetections(flow, intercepted.classification, [
          {
            type: 'reverse_tunnel',
            confidence: 'high',
            evidence: `ssh -R: ${name} request for ${bind} on an intercepted SSH connection to ${destination} (refused: no listener was opened upstream)`,
            direction: 'up',
            atMs: elapsedNs(flow) / 1e6,
          },
        ]);
        if (!verdict.block) return;
        pipeline.recordRefusal(flow, verdict);
        refuseConnection(`remote port forwarding (ssh -R ${bind}) is not allowed, so this connection is refused: ${verdict.reason}; ${allowed}`);
      };
      conn.on('request', onGlobalRequest);
    });

    upstream.on('error', () => {
      // Reported by its close below.
    });
    upstream.once('close', () => {
      if (refusal === undefined && !client.destroyed) refuseConnection(`the upstream server ${destination} closed the connection`);
    });
    client.setTimeout(this.options.idleMs, () => refuseConnection(`idle for ${this.options.idleMs} ms`));
    client.once('close', () => {
      clearTimeout(lingerTimer);
      upstream.end();
      upstreamSocket.destroy();
      pipeline.close(flow, {
        outcome: failed ? 'failure' : 'success',
        reason: refusal ?? 'closed',
        source: { bytes: client.bytesRead },
        destination: { bytes: upstreamSocket.bytesRead },
      });
    });
    if (intercepted.held.length > 0) client.unshift(Buffer.concat(intercepted.held));
    server.injectSocket(client);
    this.meterBytesOut(intercepted, upstreamSocket, (reason) => {
      refusal ??= reason;
      failed = true;
    });
  }

  /**
   * The agent's bytes count against its bytes_out budget like a relayed flow's (the held first flight
   * included): the chunk that would overspend it is never forwarded — both sockets are cut before the
   * SSH server parses it, since the listener runs ahead of ssh2's own. Must be called right after
   * `injectSocket`, in the same turn, so that no chunk is read before it is in place.
   */
  private meterBytesOut(intercepted: InterceptedFlow, upstreamSocket: net.Socket, refused: (reason: string) => void): void {
    const { pipeline, flow, client } = intercepted;
    const meter = pipeline.budgets.meter(flow);
    const onData = (chunk: Buffer): void => {
      const reason = meter(chunk.length);
      if (reason === undefined) return;
      client.off('data', onData);
      flow.revoked ??= reason;
      refused(reason);
      upstreamSocket.destroy();
      client.destroy();
    };
    client.prependListener('data', onData);
  }

  private emit(name: EventInput['name'], flow: Flow, fields: Omit<EventInput, 'name'>): void {
    this.events.emit({
      name,
      ...flowEventFields(flow),
      protocol: 'ssh',
      ...fields,
    });
  }
}

/** Both built by interceptionOf, with their keys in one order. */
function sameInterception(a: SshInterception, b: SshInterception): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

