/**
 * Parsing and checking of `ffkeeper restore` arguments: the snapshot selector (exactly one of --snapshot,
 * --before, --latest, or --resume alone), `--before` times, component refs. Errors name the flag.
 */
import { ValidationError } from '../../../shared/errors.js';
import { isValidId } from '../../../shared/ids.js';
import type { RestoreArgs, SnapshotSelector } from '../api.js';
import { checkId } from '../validate.js';
import { parseRepositorySide, type RepositorySide } from '../../domain/snapshot/copy.js';

/** The restore command's options as parsed from the command line. */
export interface RestoreOptions {
  site?: string;
  snapshot?: string;
  before?: string;
  latest: boolean;
  components: string[];
  toSite?: string;
  /** False with `--no-safety-snapshot`. */
  safetySnapshot: boolean;
  /** `--resume JOB`: continue an interrupted restore. */
  resume?: string;
  /** `--from secondary`: restore from the site's secondary repository (its copies). */
  from?: string;
  yes: boolean;
  json: boolean;
}

const TIME = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}(?::?\d{2})?)?)?$/i;

function invalidTime(text: string, why: string): ValidationError {
  return new ValidationError(
    `--before '${text}' is not a valid time (${why}); use ISO 8601 (2026-11-21T17:30:00Z, 2026-11-21T17:30+03:00) or local 'YYYY-MM-DD HH:MM[:SS]'`,
    { field: 'before' },
  );
}

/** Minutes east of UTC of `Z`, `+03`, `+0300`, `-03:30`. */
function offsetMinutes(zone: string): number {
  if (zone.toUpperCase() === 'Z') return 0;
  const digits = zone.slice(1).replace(':', '');
  const minutes = Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2) || '0');
  return zone.startsWith('-') ? -minutes : minutes;
}

/**
 * Parses a `--before` time: ISO 8601 (with or without a zone; without one it is local time, as ISO 8601
 * says) or `YYYY-MM-DD HH:MM[:SS]` in local time. A date alone means local midnight.
 */
export function parseRestoreTime(text: string): Date {
  const m = TIME.exec(text.trim());
  if (!m) throw invalidTime(text, 'unrecognised format');
  const [y, mo, d, h, mi, s] = [m[1], m[2], m[3], m[4], m[5], m[6]].map((v) => Number(v ?? '0')) as [number, number, number, number, number, number];
  const ms = Number((m[7] ?? '0').padEnd(3, '0').slice(0, 3));
  const daysInMonth = new Date(Date.UTC(y, mo, 0)).getUTCDate();
  if (mo < 1 || mo > 12 || d < 1 || d > daysInMonth || h > 23 || mi > 59 || s > 59) throw invalidTime(text, 'no such date or time');
  const zone = m[8];
  if (zone !== undefined) {
    const off = offsetMinutes(zone);
    if (Math.abs(off) > 18 * 60) throw invalidTime(text, `offset ${zone} out of range`);
    return new Date(Date.UTC(y, mo - 1, d, h, mi, s, ms) - off * 60_000);
  }
  const local = new Date(y, mo - 1, d, h, mi, s, ms);
  if (local.getHours() !== h || local.getMinutes() !== mi) throw invalidTime(text, 'that time does not exist in the local time zone');
  return local;
}

const COMPONENT_KIND = /^[a-z][a-z-]{0,31}$/;

/** Checks a `--component` ref `kind:name`, e.g. `tarantool:shard-1`. */
export function checkComponentRef(ref: string): string {
  const [kind, name, ...rest] = ref.split(':');
  if (rest.length > 0 || !kind || !name || !COMPONENT_KIND.test(kind) || !isValidId(name)) {
    throw new ValidationError(`--component '${ref}' must be written KIND:NAME, e.g. postgres:main or tarantool:shard-1`, { field: 'component' });
  }
  return ref;
}

/** The selector flags given, by name. */
function selectorsGiven(opts: RestoreOptions): string[] {
  return [
    ...(opts.snapshot !== undefined ? ['--snapshot'] : []),
    ...(opts.before !== undefined ? ['--before'] : []),
    ...(opts.latest ? ['--latest'] : []),
  ];
}

/** Checks that `--resume` comes alone (only `--site`, `--yes` and `--json` may go with it). */
export function checkResumeAlone(opts: RestoreOptions): string {
  const extra = [
    ...selectorsGiven(opts),
    ...(opts.components.length > 0 ? ['--component'] : []),
    ...(opts.toSite !== undefined ? ['--to-site'] : []),
    ...(opts.safetySnapshot ? [] : ['--no-safety-snapshot']),
    ...(opts.from !== undefined ? ['--from'] : []),
  ];
  if (extra.length > 0) {
    throw new ValidationError(`--resume cannot be combined with ${extra.join(', ')}: a resumed restore keeps the plan it started with`, {
      field: 'resume',
    });
  }
  if (opts.site !== undefined) checkId(opts.site, '--site');
  return checkId(opts.resume ?? '', '--resume');
}

function selectorOf(opts: RestoreOptions): SnapshotSelector {
  const given = selectorsGiven(opts);
  if (given.length !== 1) {
    const what = given.length === 0 ? 'no snapshot was chosen' : `${given.join(' and ')} cannot be combined`;
    throw new ValidationError(`${what}: give exactly one of --snapshot ID, --before TIME, --latest`, { field: 'selector' });
  }
  if (opts.snapshot !== undefined) return { kind: 'id', id: checkId(opts.snapshot, '--snapshot') };
  if (opts.before !== undefined) return { kind: 'before', time: parseRestoreTime(opts.before) };
  return { kind: 'latest' };
}

/** Builds the restore request from the options, or throws a ValidationError naming the bad flag. */
export function restoreArgsOf(opts: RestoreOptions): RestoreArgs {
  if (opts.site === undefined) {
    throw new ValidationError('restore needs --site SITE (the site whose snapshot is restored), or --resume JOB', { field: 'site' });
  }
  const site = checkId(opts.site, '--site');
  const selector = selectorOf(opts);
  const components = opts.components.map(checkComponentRef);
  return {
    site,
    selector,
    components,
    ...(opts.toSite !== undefined ? { toSite: checkId(opts.toSite, '--to-site') } : {}),
    noSafetySnapshot: !opts.safetySnapshot,
    ...fromFlag(opts.from),
  };
}

/** `--from primary|secondary` → `{ from: 'secondary' }` or nothing; other words are refused naming the flag. */
export function fromFlag(text: string | undefined): { from?: RepositorySide } {
  if (text === undefined) return {};
  try {
    const side = parseRepositorySide(text);
    return side ? { from: side } : {};
  } catch {
    throw new ValidationError(`--from '${text}': say primary or secondary (the site's secondary repository, where 'snapshot copy' puts copies)`, { field: 'from' });
  }
}
