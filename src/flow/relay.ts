import type net from 'node:net';
import type { Direction } from '../inspect/types.js';
import { endWithFarewell } from './farewell.js';

/**
 * Moves bytes both ways between the agent's socket and the upstream socket until both directions are
 * done. Half-close is preserved (a FIN from one side becomes a FIN to the other while the other
 * direction keeps flowing) and backpressure is honoured (a slow reader pauses the fast writer).
 *
 * An optional inspector sees every chunk *before* it is forwarded, so a chunk that gets the flow
 * refused is never delivered; once the inspector has nothing more to learn, `untap()` removes it and
 * the relay is a plain byte pump. Byte counts come from the sockets' own counters.
 */

export interface RelayResult {
  /** Bytes from the agent to the destination. */
  bytesUp: number;
  /** Bytes from the destination to the agent. */
  bytesDown: number;
  /** Why the relay ended: "closed" for a clean close by the peers, otherwise the cause. */
  reason: string;
}

/** Returns false to drop the chunk (the inspector is ending the flow). */
export type RelayInspector = (chunk: Buffer, direction: Direction) => boolean;

export interface RelayHandle {
  done: Promise<RelayResult>;
  /**
   * Ends the relay now, e.g. because a policy reload no longer allows the flow. With `farewell`, those
   * bytes (a refusal in the agent's protocol) are sent to the agent before its side closes.
   */
  terminate(reason: string, farewell?: Buffer): void;
  /** Stops inspecting; chunks are forwarded untouched from now on. */
  untap(): void;
}

/**
 * Counts the bytes going up (agent → destination) as they pass, for budgets: undefined forwards the
 * chunk, a reason stops the flow without forwarding it. Called once per chunk with its length only.
 */
export type UpMeter = (bytes: number) => string | undefined;

export function relay(client: net.Socket, upstream: net.Socket, idleMs: number, inspector?: RelayInspector, meter?: UpMeter): RelayHandle {
  let reason = 'closed';
  let closedCount = 0;
  let inspect = inspector;
  let finish: (result: RelayResult) => void = () => {};
  const done = new Promise<RelayResult>((resolve) => (finish = resolve));
  // The upstream socket is the flow's own, so all it was sent counts (including bytes the caller
  // forwarded before the relay started); the client socket already carried the proxy's own answer
  // (CONNECT 200, SOCKS reply), which is not the destination's.
  const clientWrittenBefore = client.bytesWritten;

  let stopping = false;
  let farewellBytes = 0;
  const stop = (why: string, farewell?: Buffer): void => {
    if (stopping) {
      // Already ending (a farewell is being read): a later error or timeout still tears down at once.
      if (!farewell) client.destroy();
      return;
    }
    stopping = true;
    inspect = undefined;
    if (reason === 'closed') reason = why;
    upstream.destroy();
    if (!farewell || client.destroyed) {
      client.destroy();
      return;
    }
    // Let the agent read why instead of meeting a reset.
    farewellBytes = farewell.length;
    endWithFarewell(client, farewell);
  };
  const onClose = (): void => {
    closedCount += 1;
    if (closedCount === 1) {
      // One side is gone: let the other finish what it was sending, then close. A side paused for
      // backpressure would wait for a drain that never comes: let it read on to its FIN.
      for (const socket of [client, upstream]) {
        if (socket.destroyed) continue;
        if (!socket.writableEnded) socket.end();
        socket.resume();
      }
      return;
    }
    // The farewell is the proxy's answer, not the destination's bytes.
    finish({ bytesUp: upstream.bytesWritten, bytesDown: client.bytesWritten - clientWrittenBefore - farewellBytes, reason });
  };
  const forward = (from: net.Socket, to: net.Socket, direction: Direction): void => {
    from.on('data', (chunk: Buffer) => {
      if (stopping) return;
      if (inspect && !inspect(chunk, direction)) return;
      if (meter !== undefined && direction === 'up') {
        const over = meter(chunk.length);
        if (over !== undefined) return stop(over);
      }
      if (!to.write(chunk)) {
        from.pause();
        to.once('drain', () => from.resume());
      }
    });
    from.on('end', () => {
      if (!to.destroyed) to.end();
    });
    // A FIN that arrived before the relay started (while the first bytes were being inspected).
    if (from.readableEnded && !to.destroyed) to.end();
  };
  for (const [socket, name] of [[client, 'client'], [upstream, 'upstream']] as const) {
    socket.on('error', (error: NodeJS.ErrnoException) => stop(`${name} error: ${error.code ?? error.message}`));
    // A socket that closed before the relay started will not emit 'close' again: count it now, or the
    // flow would never finish (and would hold its registry slot for ever).
    if (socket.closed) queueMicrotask(onClose);
    else socket.on('close', onClose);
    // Any byte in either direction touches both sockets, so one idle socket means an idle flow.
    socket.setTimeout(idleMs, () => stop(`idle for ${idleMs} ms`));
  }
  forward(client, upstream, 'up');
  forward(upstream, client, 'down');
  client.resume();
  upstream.resume();
  if (client.destroyed || upstream.destroyed) stop('a peer closed before the relay started');
  return {
    done,
    terminate: stop,
    untap: () => {
      inspect = undefined;
    },
  };
}
