/** The shared shell of every load client process: parse argv[2], run, print one JSON result line. */
import type { z } from 'zod';

/** No child may outlive a wedged run: this is the last-resort deadline on top of each client's own. */
const HARD_DEADLINE_MS = 120_000;

export function runClientMain<A>(argsSchema: z.ZodType<A>, client: (args: A) => Promise<unknown>): void {
  setTimeout(() => {
    process.stderr.write(`load client gave up after ${HARD_DEADLINE_MS} ms\n`);
    process.exit(3);
  }, HARD_DEADLINE_MS).unref();
  let json: unknown;
  try {
    json = JSON.parse(process.argv[2] ?? '');
  } catch {
    process.stderr.write('expected the client arguments as JSON in argv[2]\n');
    process.exit(2);
  }
  const parsed = argsSchema.safeParse(json);
  if (!parsed.success) {
    process.stderr.write(`bad client arguments: ${parsed.error.message}\n`);
    process.exit(2);
  }
  client(parsed.data).then(
    (result) => {
      printLine(result);
      process.exit(0);
    },
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exit(1);
    },
  );
}

/** Writes one JSON line to stdout (the runner reads results and progress messages this way). */
export function printLine(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
