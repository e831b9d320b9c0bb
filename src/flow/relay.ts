import type net from 'node:net';

/**
 * Pipes bytes both ways between the agent's socket and the upstream socket until both directions are
 * done. Half-close is preserved (a FIN from one side becomes a FIN to the other, and the other
 * direction keeps flowing). Byte counts come from the sockets' own counters: the pipe itself does no
 * per-chunk work.
 */

export interface RelayResult {
  /** Bytes from the agent to the destination. */
  bytesUp: number;
  /** Bytes from the destination to the agent. */
  bytesDown: number;
  /** Why the relay ended: "closed" for a clean close by the peers, otherwise the cause. */
  reason: string;
}

export interface RelayHandle {
  done: Promise<RelayResult>;
  /** Ends the relay now, e.g. because a policy reload no longer allows the flow. */
  terminate(reason: string): void;
}

export function relay(client: net.Socket, upstream: net.Socket, idleMs: number): RelayHandle {
  let reason = 'closed';
  let closedCount = 0;
  let finish: (result: RelayResult) => void = () => {};
  const done = new Promise<RelayResult>((resolve) => (finish = resolve));
  // The upstream socket is the flow's own, so all it was sent counts (including bytes the caller
  // forwarded before the relay started); the client socket already carried the proxy's own answer
  // (CONNECT 200, SOCKS reply), which is not the destination's.
  const clientWrittenBefore = client.bytesWritten;

  const stop = (why: string): void => {
    if (reason === 'closed') reason = why;
    client.destroy();
    upstream.destroy();
  };
  const onClose = (): void => {
    closedCount += 1;
    // One side is gone: the other cannot usefully continue once its writes would go nowhere.
    if (closedCount === 1) {
      if (client.destroyed && !upstream.destroyed && upstream.writableEnded === false) upstream.end();
      if (upstream.destroyed && !client.destroyed && client.writableEnded === false) client.end();
      return;
    }
    finish({
      bytesUp: upstream.bytesWritten,
      bytesDown: client.bytesWritten - clientWrittenBefore,
      reason,
    });
  };
  for (const [socket, name] of [[client, 'client'], [upstream, 'upstream']] as const) {
    socket.on('error', (error: NodeJS.ErrnoException) => stop(`${name} error: ${error.code ?? error.message}`));
    socket.on('close', onClose);
    // Any byte in either direction touches both sockets, so one idle socket means an idle flow.
    socket.setTimeout(idleMs, () => stop(`idle for ${idleMs} ms`));
  }
  client.pipe(upstream);
  upstream.pipe(client);
  if (client.destroyed || upstream.destroyed) stop('a peer closed before the relay started');
  return { done, terminate: stop };
}
