/** Checks of CLI arguments shared by the snapshot, restore, jobs and catalog commands; errors name the flag. */
import { ValidationError } from '../../shared/errors.js';
import { isValidId } from '../../shared/ids.js';

/**
 * Checks an identifier (site, snapshot id, job id): 1-63 letters, digits, '-' or '_'. `what` names it
 * in the error, e.g. `--site` or `snapshot id`.
 */
export function checkId(value: string, what: string): string {
  if (!isValidId(value)) {
    throw new ValidationError(`${what} '${value}' is not a valid id (1-63 letters, digits, '-' or '_')`, {
      field: what.startsWith('--') ? what.slice(2) : 'id',
    });
  }
  return value;
}

/** Parses a whole number ≥ 0 such as `--keep-daily 0`; `flag` names it in the error. */
export function parseCount(value: string, flag: string): number {
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(Number(value))) {
    throw new ValidationError(`${flag} '${value}' must be a whole number ≥ 0`, { field: flag.replace(/^--/, '') });
  }
  return Number(value);
}

/** Parses a positive integer flag such as `--limit 20`; `flag` names it in the error. */
export function parsePositiveInt(value: string, flag: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n <= 0) {
    throw new ValidationError(`${flag} '${value}' must be a positive whole number`, { field: flag.replace(/^--/, '') });
  }
  return n;
}
