/**
 * Everything the bench starts (proxies, servers, load clients, temp dirs) registers how to undo itself
 * here, so that a thrown error, Ctrl-C or SIGTERM still stops squid and friends instead of leaving them
 * listening on loopback.
 */
type Cleanup = () => Promise<void> | void;

const pending: Cleanup[] = [];

/** Registers `cleanup`; the returned function unregisters it (call it after a normal stop). */
export function onCleanup(cleanup: Cleanup): () => void {
  pending.push(cleanup);
  return () => {
    const index = pending.indexOf(cleanup);
    if (index >= 0) pending.splice(index, 1);
  };
}

/** Runs every registered cleanup, newest first; one failing cleanup does not stop the others. */
export async function runCleanups(): Promise<void> {
  while (pending.length > 0) {
    const cleanup = pending.pop();
    try {
      await cleanup?.();
    } catch (error) {
      process.stderr.write(`bench: cleanup failed: ${String(error)}\n`);
    }
  }
}

/** On SIGINT / SIGTERM: clean up, then exit with the conventional 128 + signal number. */
export function cleanUpOnSignals(): void {
  const handle = (signal: NodeJS.Signals, code: number): void => {
    process.stderr.write(`\nbench: ${signal}, stopping everything...\n`);
    void runCleanups().finally(() => process.exit(code));
  };
  process.once('SIGINT', () => handle('SIGINT', 130));
  process.once('SIGTERM', () => handle('SIGTERM', 143));
}
