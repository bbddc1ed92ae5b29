/**
 * Names the uploads driver creates on disk, built only here: the staging directory a restore writes
 * into and the aside directory that receives a live directory's previous entries. Both live directly in
 * the upload root (so moves between them are renames on one file system, even when the root is a mount
 * point) and both are skipped by backups.
 */
import { ValidationError } from '../../../../shared/errors.js';

const STAGING_PREFIX = '.ffk-restore-';
const ASIDE_PREFIX = '.ffk-aside-';
const SAFE_JOB_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

function checkJobId(jobId: string): string {
  if (!SAFE_JOB_ID.test(jobId) || jobId.includes('..')) {
    throw new ValidationError(`job id '${jobId}' cannot name a restore directory: letters, digits, '-', '_', '.' only`, {
      field: 'jobId',
    });
  }
  return jobId;
}

/** Name of the staging directory of restore job `jobId`. */
export function stagingName(jobId: string): string {
  return `${STAGING_PREFIX}${checkJobId(jobId)}`;
}

/** Name of the aside directory of restore job `jobId`. */
export function asideName(jobId: string): string {
  return `${ASIDE_PREFIX}${checkJobId(jobId)}`;
}

/** True for the driver's own directories (of any job), which backups skip and swaps leave in place. */
export function isReservedName(name: string): boolean {
  return name.startsWith(STAGING_PREFIX) || name.startsWith(ASIDE_PREFIX);
}
