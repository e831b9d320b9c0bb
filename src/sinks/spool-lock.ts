import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

/**
 * `<spool dir>/lock`, holding the owner's pid: two processes appending to and acknowledging one spool
 * would interleave segments and overwrite each other's acknowledgement (events lost or sent twice),
 * so the second one refuses to start. A lock whose process is gone (a crash, kill -9) is taken over.
 */

const LOCK_FILE = 'lock';
/** Spool directories this process holds: its own pid in a lock file is then not a stale one. */
const heldHere = new Set<string>();

export class SpoolLock {
  private constructor(private readonly file: string) {}

  static async acquire(dir: string): Promise<SpoolLock> {
    const file = path.join(dir, LOCK_FILE);
    for (let attempt = 0; attempt < 2; attempt += 1) {
      try {
        await writeFile(file, `${process.pid}\n`, { flag: 'wx' });
        heldHere.add(file);
        return new SpoolLock(file);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      const owner = Number.parseInt(await readFile(file, 'utf8').catch(() => ''), 10);
      if (Number.isSafeInteger(owner) && owner > 0 && isRunning(owner)) {
        // Our own pid from an earlier life (pid 1 in a restarted container) is stale, unless we hold it now.
        if (owner !== process.pid || heldHere.has(file)) {
          throw new Error(`spool ${dir} is in use by process ${owner} (another Chokepoint on the same state_dir?); if that process is not Chokepoint, remove ${file}`);
        }
      }
      await rm(file, { force: true });
    }
    throw new Error(`spool ${dir}: cannot take ${file}`);
  }

  async release(): Promise<void> {
    heldHere.delete(this.file);
    await rm(this.file, { force: true });
  }
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, owned by someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
