/**
 * Command-line flags every bench case understands, so `npm run bench -- FLAGS` can pass the same flags
 * to each case: --quick (small, fast version), --strict (exit 1 on FAIL), --runs N, --results FILE,
 * --no-results, --json FILE, --help. Bad values are ValidationErrors naming the flag.
 */
import { parseArgs } from 'node:util';
import { ValidationError } from '../../shared/errors.js';

export interface CommonBenchArgs {
  quick: boolean;
  strict: boolean;
  /** Measured repetitions; undefined = the case's default for the mode. */
  runs: number | undefined;
  /** Where to write the case's results section; undefined = the case's default for the mode. */
  results: string | undefined;
  noResults: boolean;
  /** Also write the raw result as JSON here. */
  json: string | undefined;
  help: boolean;
}

export const COMMON_USAGE = [
  '  --quick          small data and few runs (what the test suite runs)',
  '  --strict         exit 1 when a bar is not met (default: report, exit 0)',
  '  --runs N         measured repetitions per variant',
  '  --results FILE   write the results section here (default: bench/RESULTS.md in full mode, nowhere with --quick)',
  '  --no-results     do not write a results file',
  '  --json FILE      also write the raw result as JSON',
].join('\n');

/** A positive integer from flag `--name`, or undefined when absent. */
export function positiveInt(value: string | undefined, name: string, min = 1): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new ValidationError(`--${name} must be an integer ≥ ${min}, got '${value}'`, { field: name });
  return n;
}

/** The parsed command line: the common flags, and the case's own flags by name (undefined when absent). */
export interface BenchArgs {
  common: CommonBenchArgs;
  extra: Record<string, string | undefined>;
}

/** Parses the common flags plus the case's own string flags (`extra`); unknown flags are errors. */
export function parseBenchArgs(argv: string[], extra: readonly string[] = []): BenchArgs {
  const options = {
    quick: { type: 'boolean' },
    strict: { type: 'boolean' },
    runs: { type: 'string' },
    results: { type: 'string' },
    'no-results': { type: 'boolean' },
    json: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
    ...Object.fromEntries(extra.map((name) => [name, { type: 'string' }])),
  } as const;
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({ args: argv, options, allowPositionals: false, strict: true }).values as Record<string, string | boolean | undefined>;
  } catch (err) {
    throw new ValidationError((err as Error).message, { cause: err });
  }
  const str = (k: string): string | undefined => (typeof values[k] === 'string' ? (values[k] as string) : undefined);
  return {
    common: {
      quick: values.quick === true,
      strict: values.strict === true,
      runs: positiveInt(str('runs'), 'runs'),
      results: str('results'),
      noResults: values['no-results'] === true,
      json: str('json'),
      help: values.help === true,
    },
    extra: Object.fromEntries(extra.map((k) => [k, str(k)])),
  };
}
