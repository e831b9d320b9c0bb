/** Writes a small file tree into a fresh temporary directory, for loader and watcher tests. */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface TempTree {
  root: string;
  remove(): Promise<void>;
}

/** `files` maps a relative path to its contents; parent directories are created as needed. */
export async function makeTempTree(files: Record<string, string>): Promise<TempTree> {
  const root = await mkdtemp(path.join(tmpdir(), 'chokepoint-config-'));
  await writeTree(root, files);
  return { root, remove: () => rm(root, { recursive: true, force: true }) };
}

export async function writeTree(root: string, files: Record<string, string>): Promise<void> {
  for (const [relative, text] of Object.entries(files)) {
    const file = path.join(root, relative);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, text);
  }
}
