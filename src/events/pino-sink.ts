import pino from 'pino';
import type { EventSink } from './bus.js';
import type { ChokepointEvent } from './types.js';

/**
 * JSON lines on stdout or appended to a file, through pino's asynchronous writer (sonic-boom), so
 * that writing an event never blocks a relay. pino's own fields (time, pid, hostname) are switched
 * off: the record is the canonical event plus ECS `log.level`.
 */
export function createPinoSink(filePath?: string): EventSink {
  const destination = pino.destination({ dest: filePath ?? 1, append: true, mkdir: true, sync: false });
  const logger = pino(
    { base: null, timestamp: false, formatters: { level: (label) => ({ 'log.level': label }) } },
    destination,
  );
  return {
    write(event: ChokepointEvent): void {
      logger.info(event);
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
