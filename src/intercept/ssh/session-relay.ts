import type ssh2 from 'ssh2';
import type { SessionJudgement } from './session-policy.js';

/**
 * One agent session channel relayed onto a session channel of Chokepoint's own upstream connection:
 * pty, window-change and signals are passed on, env as the session policy allows; the program request (exec, shell, subsystem) is
 * judged first and, when refused, answered on the agent's channel itself — stderr text and an exit
 * status — so the tool the agent ran prints why. Data flows both ways with backpressure (pipe: a full
 * SSH window on one side stops reading from the other), EOF is forwarded as EOF (not close), and the
 * upstream exit status reaches the agent before its channel closes. X11 and agent forwarding are refused.
 */

export interface SessionHooks {
  judgeExec(command: string): SessionJudgement;
  judgeShell(): SessionJudgement;
  judgeSubsystem(name: string): SessionJudgement;
  judgeEnv(name: string, value: string): SessionJudgement;
  /** A request refused inside the session (x11, auth-agent, a command): for the event. */
  refused(what: 'exec' | 'shell' | 'subsystem' | 'x11' | 'auth-agent' | 'env', reason: string, command?: string): void;
  /** A program started upstream: for the event. */
  started(what: 'exec' | 'shell' | 'subsystem', command?: string): void;
  /** When set, the connection is being refused: every program request gets this reason. */
  refusal(): string | undefined;
}

/** 126: "command found but not executable", what a shell answers for a command it may not run. */
export const REFUSED_EXIT_STATUS = 126;
/** What OpenSSH's ssh exits with for a connection-level failure. */
export const FAILED_EXIT_STATUS = 255;

/** The agent-side session channels still open, so that a refusal of the connection can answer each. */
export type LiveChannels = Set<ssh2.ServerChannel>;

export function relaySession(session: ssh2.Session, upstream: ssh2.Client, hooks: SessionHooks, live: LiveChannels): void {
  let pty: ssh2.PseudoTtyInfo | undefined;
  const env: Record<string, string> = {};
  let upstreamChannel: ssh2.ClientChannel | undefined;
  // Window changes and signals that arrive while the upstream program is being started are applied
  // to it once it is there; before any program was requested a window change just resizes the pty.
  let opening = false;
  let pendingWindow: ssh2.WindowChangeInfo | undefined;
  const pendingSignals: string[] = [];
  const onWindow = (info: ssh2.WindowChangeInfo): void => {
    if (upstreamChannel) upstreamChannel.setWindow(info.rows, info.cols, info.height, info.width);
    else if (opening) pendingWindow = info;
    else if (pty) pty = { ...pty, rows: info.rows, cols: info.cols, height: info.height, width: info.width };
  };
  const onSignal = (name: string): void => {
    if (upstreamChannel) upstreamChannel.signal(name);
    else if (opening) pendingSignals.push(name);
  };

  session.on('pty', (accept, _reject, info) => {
    pty = info;
    accept?.();
  });
  session.on('env', (accept, reject, info) => {
    const judgement = hooks.judgeEnv(info.key, info.val);
    if (!judgement.ok) {
      // Refused, not dropped in silence: the event names what the agent tried to pass.
      hooks.refused('env', judgement.reason);
      return reject?.();
    }
    env[info.key] = info.val;
    accept?.();
  });
  session.on('window-change', (accept, _reject, info) => {
    onWindow(info);
    accept?.();
  });
  session.on('signal', (accept, _reject, info) => {
    onSignal(info.name);
    accept?.();
  });
  session.on('x11', (_accept, reject) => {
    hooks.refused('x11', 'X11 forwarding is not allowed through Chokepoint');
    reject?.();
  });
  session.on('auth-agent', (_accept, reject) => {
    hooks.refused('auth-agent', 'agent forwarding is not allowed through Chokepoint (the proxy logs in upstream with its own key)');
    reject?.();
  });

  const start = (
    what: 'exec' | 'shell' | 'subsystem',
    accept: ssh2.AcceptConnection<ssh2.ServerChannel>,
    judgement: SessionJudgement,
    open: (done: ssh2.ClientCallback) => void,
    command?: string,
  ): void => {
    const channel = accept();
    // Asked before the channel is live: a refusal decided now answers the other channels, this one below.
    const refusal = hooks.refusal();
    live.add(channel);
    channel.once('close', () => live.delete(channel));
    if (refusal !== undefined || !judgement.ok) {
      const reason = refusal ?? (judgement.ok ? '' : judgement.reason);
      hooks.refused(what, reason, command);
      answerAndClose(channel, reason, refusal !== undefined ? FAILED_EXIT_STATUS : REFUSED_EXIT_STATUS);
      return;
    }
    // Hold what the agent sends until the upstream program is there to read it.
    channel.pause();
    opening = true;
    open((error, opened) => {
      opening = false;
      if (error) {
        answerAndClose(channel, `the upstream server refused the ${what} request: ${error.message}`, FAILED_EXIT_STATUS);
        return;
      }
      if (!live.has(channel)) {
        // The agent closed its channel while the upstream one was opening.
        opened.close();
        return;
      }
      upstreamChannel = opened;
      if (pendingWindow) onWindow(pendingWindow);
      for (const name of pendingSignals.splice(0)) onSignal(name);
      hooks.started(what, command);
      join(channel, opened);
    });
  };

  session.on('exec', (accept, _reject, info) => {
    start('exec', accept, hooks.judgeExec(info.command), (done) => upstream.exec(info.command, { env, ...(pty ? { pty: ptyOptions(pty) } : {}) }, done), info.command);
  });
  session.on('shell', (accept) => {
    start('shell', accept, hooks.judgeShell(), (done) => upstream.shell(pty ? ptyOptions(pty) : false, { env }, done));
  });
  session.on('subsystem', (accept, _reject, info) => {
    start('subsystem', accept, hooks.judgeSubsystem(info.name), (done) => upstream.subsys(info.name, done), info.name);
  });
}

/** Joins an agent channel and an upstream channel until both are closed. */
function join(agent: ssh2.ServerChannel, upstream: ssh2.ClientChannel): void {
  agent.pipe(upstream, { end: false });
  upstream.pipe(agent, { end: false });
  upstream.stderr.pipe(agent.stderr, { end: false });
  // EOF is a half-close in SSH: the agent's end of input becomes upstream EOF, the program keeps running.
  agent.once('end', () => upstream.eof());
  upstream.on('exit', (code: number | null, signal?: string, dumped?: string | boolean, description?: string) => {
    if (typeof code === 'number') agent.exit(code);
    else if (signal !== undefined) agent.exit(signal, dumped === true || dumped === 'true', description ?? '');
  });
  let upstreamEnded = false;
  let upstreamClosed = false;
  // Ending the agent channel sends EOF and CLOSE: only once every upstream byte was passed on (end)
  // and the upstream channel closed (its exit status, sent before CLOSE, has been relayed).
  const finish = (): void => {
    if (upstreamEnded && upstreamClosed && !agent.writableEnded) agent.end();
  };
  upstream.once('end', () => {
    upstreamEnded = true;
    finish();
  });
  upstream.once('close', () => {
    upstreamClosed = true;
    // Destroyed with bytes unread: no 'end' will come, and nothing more can be passed on.
    if (upstream.readableEnded || upstream.destroyed) upstreamEnded = true;
    finish();
  });
  agent.once('close', () => upstream.close());
  agent.resume();
}

/** The refusal, in the channel: stderr text, an exit status, then EOF and close. */
export function answerAndClose(channel: ssh2.ServerChannel, reason: string, status: number): void {
  channel.stderr.write(`chokepoint: ${reason}\r\n`);
  channel.exit(status);
  channel.end();
}

function ptyOptions(info: ssh2.PseudoTtyInfo): ssh2.PseudoTtyOptions {
  return { rows: info.rows, cols: info.cols, width: info.width, height: info.height, term: info.term, modes: info.modes };
}
