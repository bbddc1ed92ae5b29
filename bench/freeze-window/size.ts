/**
 * How much data a dev site holds, for the freeze-window table: upload files and their bytes, database
 * rows (FindFace's main tables), Tarantool gallery records, and the dossier/face/event counts the
 * trimmer keeps constant. The uploads agent's own directories in each root (`.ffk-*`: its deletion
 * shield of hard links, restore staging) are not the site's data and are not counted.
 */
import { lstat, readdir } from 'node:fs/promises';
import path from 'node:path';
import { isReservedName } from '../../agent/domain/drivers/uploads/layout.js';
import { siteStatus, type SiteState } from '../../deploy/dev-site/index.js';
import { UnavailableError } from '../../shared/errors.js';

export interface DataSize {
  /** Files under the upload directories (uploads/ and ffupload/). */
  files: number;
  bytes: number;
  /** Rows of the main tables (dossiers, faces, events, watch lists, cameras, users). */
  rows: number;
  /** Gallery records across all Tarantool shards. */
  records: number;
  dossiers: number;
  faces: number;
  events: number;
}

async function walk(dir: string, top = true): Promise<{ files: number; bytes: number }> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  const parts = await Promise.all(
    entries.map(async (e) => {
      if (top && isReservedName(e.name)) return { files: 0, bytes: 0 };
      const full = path.join(dir, e.name);
      if (e.isDirectory()) return walk(full, false);
      return { files: 1, bytes: (await lstat(full).catch(() => ({ size: 0 }))).size };
    }),
  );
  return parts.reduce((a, b) => ({ files: a.files + b.files, bytes: a.bytes + b.bytes }), { files: 0, bytes: 0 });
}

/** Measures a site that is up; UnavailableError naming the site when its database or shards do not answer. */
export async function measureDataSize(state: SiteState): Promise<DataSize> {
  const status = await siteStatus(state);
  if ('unavailable' in status.rows) throw new UnavailableError(`dev site '${state.site}': row counts unavailable: ${String(status.rows.unavailable)}`);
  if ('unavailable' in status.galleries) throw new UnavailableError(`dev site '${state.site}': gallery counts unavailable: ${String(status.galleries.unavailable)}`);
  const rows = status.rows as Record<string, number>;
  const galleries = Object.values(status.galleries as Record<string, { count: number }[]>).flat();
  const [uploads, ffupload] = await Promise.all([walk(state.uploads.uploadsDir), walk(state.uploads.ffuploadDir)]);
  return {
    files: uploads.files + ffupload.files,
    bytes: uploads.bytes + ffupload.bytes,
    rows: Object.values(rows).reduce((a, b) => a + b, 0),
    records: galleries.reduce((a, g) => a + g.count, 0),
    dossiers: rows.ffsecurity_dossier ?? 0,
    faces: rows.ffsecurity_dossierface ?? 0,
    events: rows.ffsecurity_event ?? 0,
  };
}
