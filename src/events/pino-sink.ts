import pino from 'pino';
import type { EventSink } from './bus.js';
import { eventJson } from './chain.js';
import type { ChokepointEvent } from './types.js';

/**
 * JSON lines on stdout or appended to a file, through pino's asynchronous writer (sonic-boom), so
 * that writing an event never blocks a relay. The line is the canonical event plus ECS `log.level`:
 * the JSON the hash chain already produced (eventJson), not a second serialisation by pino's logger
 * — that halves the chain's cost per event (bench/event-chain.ts).
 *
 * Lines emitted in one turn of the event loop are handed to sonic-boom together, at the end of that
 * turn (setImmediate): sonic-boom starts an fs.write for the first line it gets while idle, and one
 * write per event was ~13% of the proxy's CPU when tunnels were opened 50 at a time (a threadpool
 * hand-off per call). `flush` writes what is pending first, so nothing is lost at a stop.
 */
export function createPinoSink(filePath?: string): EventSink {
  const destination = pino.destination({ dest: filePath ?? 1, append: true, mkdir: true, sync: false });
  let pending = '';
  let scheduled: NodeJS.Immediate | undefined;
  const writePending = (): void => {
    scheduled = undefined;
    if (pending === '') return;
    const lines = pending;
    pending = '';
    destination.write(lines);
  };
  return {
    write(event: ChokepointEvent): void {
      pending += `{"log.level":"info",${eventJson(event).slice(1)}\n`;
      scheduled ??= setImmediate(writePending);
    },
    flush(): Promise<void> {
      if (scheduled !== undefined) clearImmediate(scheduled);
      writePending();
      return new Promise((resolve) => {
        // flushSync is the only flush that guarantees the bytes left the process before exit.
        try {
          destination.flushSync();
        } catch {
          // sonic-boom throws when it is not ready yet; nothing was buffered then.
        }
        resolve();
      });
    },
  };
}
