/** What the demo does to a dev site to show a restore repairing it: removes records, files and rows. */
import { rmSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { ShardSet, type SiteState } from '../dev-site/index.js';

export interface Damage {
  records: number;
  files: number;
  rows: number;
}

/** Deletes 10 event records from the gallery, 10 dossier photos from disk, and 3 dossier rows (foreign keys bypassed). */
export async function damageSite(state: SiteState): Promise<Damage> {
  const db = new pg.Client({ host: state.postgres.host, port: state.postgres.port, user: state.postgres.superuser, database: state.postgres.database });
  await db.connect();
  const shards = await ShardSet.connect(state.shards);
  try {
    const events = await db.query<{ record_id: string }>('SELECT record_id FROM ffsecurity_event ORDER BY id LIMIT 10');
    const records = await shards.delete('ffsec_face_events', events.rows.map((r) => Number(r.record_id)));
    const faces = await db.query<{ source_photo: string }>('SELECT source_photo FROM ffsecurity_dossierface ORDER BY id DESC LIMIT 10');
    for (const f of faces.rows) rmSync(path.join(state.uploads.uploadsDir, f.source_photo), { force: true });
    await db.query('BEGIN');
    await db.query('SET LOCAL session_replication_role = replica'); // as a careless manual fix would
    const rows = await db.query('DELETE FROM ffsecurity_dossier WHERE id IN (SELECT id FROM ffsecurity_dossier ORDER BY id LIMIT 3)');
    await db.query('COMMIT');
    return { records, files: faces.rows.length, rows: rows.rowCount ?? 0 };
  } finally {
    shards.close();
    await db.end();
  }
}
