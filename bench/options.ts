/** Command-line options of `npm run bench` and the workload sizes they select. */

export interface BenchSettings {
  quick: boolean;
  rounds: number;
  /** Target names in column order, e.g. ["direct", "squid", "chokepoint"]. */
  targets: string[];
  /** Where RESULTS.md goes; null = bench/RESULTS.md in the checkout. */
  outFile: string | null;
  throughputBytes: number;
  setupSequential: { count: number; inFlight: number };
  setupParallel: { count: number; inFlight: number };
  http: { connections: number; durationS: number };
  idle: { count: number; rounds: number };
}

const MiB = 1024 * 1024;

/** ~3–4 minutes on a 2-core machine with three targets. */
const FULL: Omit<BenchSettings, 'targets' | 'outFile'> = {
  quick: false,
  rounds: 5,
  // A second or more per sample on loopback: 256 MiB passes in ~0.2 s, too short to be stable.
  throughputBytes: 1024 * MiB,
  setupSequential: { count: 500, inFlight: 1 },
  setupParallel: { count: 2000, inFlight: 50 },
  http: { connections: 50, durationS: 5 },
  idle: { count: 5000, rounds: 3 },
};

/** ~1 minute: enough to see that everything works and roughly where the figures are. */
const QUICK: Omit<BenchSettings, 'targets' | 'outFile'> = {
  quick: true,
  rounds: 3,
  throughputBytes: 256 * MiB,
  setupSequential: { count: 200, inFlight: 1 },
  setupParallel: { count: 1000, inFlight: 50 },
  http: { connections: 50, durationS: 2 },
  idle: { count: 1000, rounds: 1 },
};

export const KNOWN_TARGETS = ['direct', 'squid', 'chokepoint', 'chokepoint-raw'];

export const USAGE = `Usage: npm run bench -- [options]
  --rounds N          rounds per measurement (median reported; default 5, quick 3)
  --quick             smaller workloads, about a minute
  --targets a,b,...   subset of ${KNOWN_TARGETS.join(',')} (default: all)
  --out FILE          write the report there instead of bench/RESULTS.md
  --help`;

export type ParsedOptions = { kind: 'run'; settings: BenchSettings } | { kind: 'help' } | { kind: 'error'; message: string };

/** Parses argv (without node and script). Never throws: bad input comes back as `kind: 'error'`. */
export function parseOptions(argv: readonly string[]): ParsedOptions {
  let quick = false;
  let rounds: number | null = null;
  let targets = KNOWN_TARGETS;
  let outFile: string | null = null;
  for (let index = 0; index < argv.length; index += 1) {
    const option = argv[index];
    const value = argv[index + 1];
    if (option === '--help' || option === '-h') return { kind: 'help' };
    if (option === '--quick') {
      quick = true;
    } else if (option === '--rounds') {
      const parsed = Number(value);
      if (!Number.isInteger(parsed) || parsed < 1 || parsed > 100) {
        return { kind: 'error', message: '--rounds needs a whole number from 1 to 100' };
      }
      rounds = parsed;
      index += 1;
    } else if (option === '--targets') {
      const names = (value ?? '').split(',').filter((name) => name !== '');
      const unknown = names.filter((name) => !KNOWN_TARGETS.includes(name));
      if (names.length === 0 || unknown.length > 0) {
        return { kind: 'error', message: `--targets takes a comma-separated subset of ${KNOWN_TARGETS.join(',')}` };
      }
      targets = KNOWN_TARGETS.filter((name) => names.includes(name));
      index += 1;
    } else if (option === '--out') {
      if (value === undefined || value === '') return { kind: 'error', message: '--out needs a file name' };
      outFile = value;
      index += 1;
    } else {
      return { kind: 'error', message: `unknown option ${String(option)}` };
    }
  }
  const profile = quick ? QUICK : FULL;
  return { kind: 'run', settings: { ...profile, rounds: rounds ?? profile.rounds, targets, outFile } };
}
