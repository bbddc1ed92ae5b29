/**
 * Names the uploads driver creates on disk, built only here: the staging directory a restore writes
 * into, the aside directory that receives a live directory's previous entries, and the deletion shield
 * (`.ffk-shield`, see shield.ts). All live directly in the upload root (so moves and hard links between
 * them and the live tree stay on one file system, even when the root is a mount point). Every direct
 * child of a root whose name starts with `.ffk-` is the driver's own: backups skip it, the shield does
 * not watch it, and a restore's swap leaves it in place.
 */
import path from 'node:path';
import { ValidationError } from '../../../../shared/errors.js';

const RESERVED_PREFIX = '.ffk-';
const STAGING_PREFIX = '.ffk-restore-';
const ASIDE_PREFIX = '.ffk-aside-';
/** Name of the deletion shield directory in each upload root. */
export const SHIELD_NAME = '.ffk-shield';
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

/** True for the driver's own directories (`.ffk-*`: staging, aside, shield), which backups skip and swaps leave in place. */
export function isReservedName(name: string): boolean {
  return name.startsWith(RESERVED_PREFIX);
}

/** The shield directory of upload root `root`. */
export function shieldDirOf(root: string): string {
  return path.posix.join(root, SHIELD_NAME);
}

/**
 * The name each root has in an uploads snapshot's tree (`/<name>/<rel>`): its last path component as
 * configured (`/var/lib/findface-security/uploads` → `uploads`, `/var/lib/ffupload` → `ffupload`); a
 * name taken by an earlier root gets `-2`, `-3`, …; `/` is `root`.
 */
export function viewNames(roots: readonly string[]): string[] {
  const taken = new Set<string>();
  return roots.map((root) => {
    const base = path.posix.basename(root) || 'root';
    let name = base;
    for (let i = 2; taken.has(name); i += 1) name = `${base}-${i}`;
    taken.add(name);
    return name;
  });
}

/** Which configured path is which root: by its name (`ffupload`, `uploads`), else by position. */
export function uploadRoots(paths: readonly string[]): Partial<Record<'uploads' | 'ffupload', string>> {
  const out: Partial<Record<'uploads' | 'ffupload', string>> = {};
  for (const p of paths) {
    const base = path.basename(p);
    if (base === 'ffupload' && !out.ffupload) out.ffupload = p;
    else if (base === 'uploads' && !out.uploads) out.uploads = p;
  }
  if (!out.uploads && paths[0] !== undefined && paths[0] !== out.ffupload) out.uploads = paths[0];
  if (!out.ffupload && paths[1] !== undefined && paths[1] !== out.uploads) out.ffupload = paths[1];
  return out;
}
