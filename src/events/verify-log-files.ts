import { createReadStream } from 'node:fs';
import { access, constants } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { LogVerifier, where, type VerifyOptions, type VerifyReport } from './log-verifier.js';

/**
 * `chokepoint verify-log FILE [FILE…]`: streams each file (a rotated set oldest first: FILE.2 FILE.1
 * FILE) through one LogVerifier and prints what it found. Exit 0 clean, 1 problems, 2 usage.
 */

/** Files that cannot be read, with why; checked before anything is verified (a usage error). */
export async function unreadableFiles(files: readonly string[]): Promise<string[]> {
  const problems: string[] = [];
  for (const file of files) {
    try {
      await access(file, constants.R_OK);
    } catch (error) {
      problems.push(`${file}: ${error instanceof Error && 'code' in error ? String(error.code) : 'cannot be read'}`);
    }
  }
  return problems;
}

export async function verifyLogFiles(files: readonly string[], options: VerifyOptions = {}): Promise<VerifyReport> {
  const verifier = new LogVerifier(options);
  for (const file of files) {
    const lines = createInterface({ input: createReadStream(file, { encoding: 'utf8' }), crlfDelay: Infinity });
    let line = 0;
    for await (const text of lines) verifier.push(text, { file, line: ++line });
  }
  return verifier.finish();
}

export function formatReport(report: VerifyReport): string {
  const out: string[] = [];
  for (const problem of report.problems) out.push(`${where(problem.at)}: ${problem.message}`);
  for (const note of report.notes) out.push(`${where(note.at)}: note: ${note.message}`);
  const verdict = report.problems.length === 0 ? 'the chain is intact' : `${report.problems.length} problem(s)`;
  out.push(`${report.events} event(s), ${report.chains} chain(s): ${verdict}`);
  return `${out.join('\n')}\n`;
}
