/**
 * The replica table of FindFace's native sync on a dev site (`ffsecurity_sync_dossierlistreplica`,
 * created by `findface-security migrate`, schema.ts): which watch list of this site replicates which list
 * of which master, and how its last nightly run went. Rows as the API shows them.
 */
import type pg from 'pg';

export type SyncRunStatus = 'ok' | 'failed';

/** A replica's last nightly run, as the API shows it. */
export interface LastSync {
  started_at: string;
  finished_at: string;
  status: SyncRunStatus;
  error?: string;
  dossiers: number;
  faces: number;
}

/** One replica, as `GET /sync/dossier-lists/` shows it. */
export interface Replica {
  id: number;
  remote_dossier_list: number;
  remote_url: string;
  slave_dossier_list: number;
  created_date: string;
  last_sync: LastSync | null;
}

export interface NewReplica {
  remote_dossier_list: number;
  remote_url: string;
  slave_dossier_list: number;
}

interface ReplicaRow {
  id: number;
  remote_dossier_list: number;
  remote_url: string;
  slave_dossier_list_id: number;
  created_date: Date;
  last_sync_started: Date | null;
  last_sync_finished: Date | null;
  last_sync_status: SyncRunStatus | null;
  last_sync_error: string | null;
  last_sync_dossiers: number | null;
  last_sync_faces: number | null;
}

const TABLE = 'ffsecurity_sync_dossierlistreplica';

function toReplica(r: ReplicaRow): Replica {
  const last: LastSync | null =
    r.last_sync_started && r.last_sync_finished && r.last_sync_status
      ? {
          started_at: r.last_sync_started.toISOString(),
          finished_at: r.last_sync_finished.toISOString(),
          status: r.last_sync_status,
          ...(r.last_sync_error === null ? {} : { error: r.last_sync_error }),
          dossiers: r.last_sync_dossiers ?? 0,
          faces: r.last_sync_faces ?? 0,
        }
      : null;
  return {
    id: r.id,
    remote_dossier_list: r.remote_dossier_list,
    remote_url: r.remote_url,
    slave_dossier_list: r.slave_dossier_list_id,
    created_date: r.created_date.toISOString(),
    last_sync: last,
  };
}

/** Every replica, by id. */
export async function listReplicas(db: pg.Pool | pg.PoolClient): Promise<Replica[]> {
  const { rows } = await db.query<ReplicaRow>(`SELECT * FROM ${TABLE} ORDER BY id`);
  return rows.map(toReplica);
}

/** The replica whose slave list is `slaveList`, if any. */
export async function replicaOfList(db: pg.Pool | pg.PoolClient, slaveList: number): Promise<Replica | undefined> {
  const { rows } = await db.query<ReplicaRow>(`SELECT * FROM ${TABLE} WHERE slave_dossier_list_id = $1`, [slaveList]);
  return rows[0] ? toReplica(rows[0]) : undefined;
}

export async function watchListExists(db: pg.Pool | pg.PoolClient, id: number): Promise<boolean> {
  const { rowCount } = await db.query('SELECT 1 FROM ffsecurity_watchlist WHERE id = $1', [id]);
  return (rowCount ?? 0) > 0;
}

/** Inserts a replica; undefined when the slave list already is one (the unique constraint decided it). */
export async function insertReplica(db: pg.Pool, r: NewReplica): Promise<Replica | undefined> {
  const { rows } = await db.query<ReplicaRow>(
    `INSERT INTO ${TABLE} (remote_dossier_list, remote_url, slave_dossier_list_id) VALUES ($1, $2, $3)
     ON CONFLICT (slave_dossier_list_id) DO NOTHING RETURNING *`,
    [r.remote_dossier_list, r.remote_url, r.slave_dossier_list],
  );
  return rows[0] ? toReplica(rows[0]) : undefined;
}

/** Deletes the replica of `slaveList`; false when there was none. */
export async function deleteReplica(db: pg.Pool, slaveList: number): Promise<boolean> {
  const { rowCount } = await db.query(`DELETE FROM ${TABLE} WHERE slave_dossier_list_id = $1`, [slaveList]);
  return (rowCount ?? 0) > 0;
}

/** Records a finished run on the replica (a replica deleted meanwhile is left deleted). */
export async function recordRun(db: pg.Pool, replicaId: number, run: LastSync): Promise<void> {
  await db.query(
    `UPDATE ${TABLE} SET last_sync_started = $2, last_sync_finished = $3, last_sync_status = $4, last_sync_error = $5,
       last_sync_dossiers = $6, last_sync_faces = $7 WHERE id = $1`,
    [replicaId, run.started_at, run.finished_at, run.status, run.error ?? null, run.dossiers, run.faces],
  );
}
