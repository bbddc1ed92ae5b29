/**
 * File names of FindFace's documented backup (reference 000), as a snapshot export writes them and a
 * snapshot import reads them: `<gallery>.json` per gallery (tarantool/export-layout.ts), the database's
 * plain dump `<database>_postgres_backup.sql`, each upload root as `<root with / as _>.tar.gz`, and
 * ffkeeper's manifest of the snapshot beside them.
 */
import path from 'node:path';
import { ValidationError } from '../../../shared/errors.js';

/** The manifest's file name in an export. */
export const EXPORT_MANIFEST_NAME = 'ffkeeper-manifest.json';

/** The file one upload root is archived into: `/var/lib/ffupload` → `var_lib_ffupload.tar.gz`. */
export function uploadArchiveName(root: string): string {
  return `${archivePrefix(root).split('/').join('_')}.tar.gz`;
}

/**
 * The path below `/` an upload root's archive names its entries with (`/var/lib/ffupload` →
 * `var/lib/ffupload`), so that `cd / && tar -xvf …` puts them back.
 */
export function archivePrefix(root: string): string {
  const parts = root.split('/').filter((p) => p.length > 0);
  if (!path.isAbsolute(root) || parts.length === 0 || parts.some((p) => p === '..' || p === '.')) {
    throw new ValidationError(`upload root '${root}' cannot name an archive (an absolute path below / is needed)`, { field: 'roots' });
  }
  return parts.join('/');
}

/** A plain dump's file name in an export: `ffsecurity` → `ffsecurity_postgres_backup.sql`. */
export function databaseDumpName(database: string): string {
  if (!/^[A-Za-z0-9_.-]+$/.test(database) || database.startsWith('.')) throw new ValidationError(`database name '${database}' cannot name a file`, { field: 'database' });
  return `${database}_postgres_backup.sql`;
}
