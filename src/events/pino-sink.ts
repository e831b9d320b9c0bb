import pino from 'pino';
import type { EventSink } from './bus.js';
import { eventJson } from './chain.js';
import type { ChokepointEvent } from './types.js';

/**
 * JSON lines on stdout or appended to a file, through pino's asynchronous writer (sonic-boom), so
 * that writing an event never blocks a relay. The line is the canonical event plus ECS `log.level`:
 * the JSON the hash chain already produced (eventJson), not a second serialisation by pino's logger
 * — that halves the chain's cost per event (bench/event-chain.ts).
 */
export function createPinoSink(filePath?: string): EventSink {
  const destination = pino.destination({ dest: filePath ?? 1, append: true, mkdir: true, sync: false });
  return {
    write(event: ChokepointEvent): void {
      destination.write(`{"log.level":"info",${eventJson(event).slice(1)}\n`);
    },
    flush(): Promise<void> {
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
