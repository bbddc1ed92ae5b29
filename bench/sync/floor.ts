/**
 * The floor the initial sync is compared with: copying the same data with the plainest tools, side by
 * side in the same run — `pg_dump -t` of the three tables of the master's dossiers piped into `psql`
 * on a scratch database (created and dropped on 127.0.0.1:5432 as postgres), and, at the same time,
 * `cp -r` of the master's `uploads/dossier_faces` and `ffupload/dossier_faces` into a temp directory.
 */
import { mkdtempSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import pg from 'pg';
import type { SiteState } from '../../deploy/dev-site/index.js';
import { IllegalStateError } from '../../shared/errors.js';

export interface FloorRun {
  /** Both copies together: from starting them to the later one's end. */
  totalMs: number;
  dumpMs: number;
  copyMs: number;
  /** Rows of ffsecurity_dossier / ffsecurity_dossierface that reached the scratch database. */
  dossiers: number;
  faces: number;
  /** Lines psql wrote to stderr (e.g. foreign keys to tables left out of the dump); the rows are counted. */
  psqlErrors: string[];
  command: string;
}

const TABLES = ['ffsecurity_dossier', 'ffsecurity_dossier_watch_lists', 'ffsecurity_dossierface'];
const PG = { host: '127.0.0.1', port: 5432, user: 'postgres' } as const;

async function admin<T>(fn: (c: pg.Client) => Promise<T>, database = 'postgres'): Promise<T> {
  const c = new pg.Client({ ...PG, database });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

/**
 * Runs the floor once against `master`; removes its scratch database before returning. Its copy is made in
 * a new directory under `copiesDir` and left there for the caller to remove after the last timed phase: on
 * this kind of machine creating files right after many were deleted is several times slower (a 2.7 GB
 * `cp -r` took 1.7 s, 7–15 s right after an `rm -rf` of the previous copy: `/` is ext4 without a journal,
 * whose inode allocator skips every inode deleted in the last minute or more, reading its inode table
 * block to tell — the kernel's recently_deleted()), so a floor that removed its copy each time slowed every
 * later run, and the sync after them.
 */
export async function runFloor(master: SiteState, copiesDir: string): Promise<FloorRun> {
  const scratch = `ffk_bench_sync_floor_${process.pid}`;
  const dir = mkdtempSync(path.join(copiesDir, 'ffk-bench-sync-floor-'));
  const conn = `-h ${PG.host} -p ${PG.port} -U ${PG.user}`;
  const dump = `pg_dump ${conn} ${TABLES.map((t) => `-t ${t}`).join(' ')} ${master.postgres.database} | psql -X -q ${conn} ${scratch}`;
  const copy = [
    `cp -r ${path.join(master.uploads.uploadsDir, 'dossier_faces')} ${path.join(dir, 'uploads')}`,
    `cp -r ${path.join(master.uploads.ffuploadDir, 'dossier_faces')} ${path.join(dir, 'ffupload')}`,
  ];
  await admin((c) => c.query(`CREATE DATABASE ${scratch}`));
  try {
    let stderr = '';
    const t0 = performance.now();
    const [dumpMs, copyMs] = await Promise.all([
      timed(async () => {
        const r = await execa('bash', ['-c', `set -o pipefail; ${dump}`], { reject: false, stdout: 'ignore' });
        stderr = String(r.stderr ?? '');
        if (r.exitCode !== 0) throw new IllegalStateError(`floor: '${dump}' exited ${r.exitCode}: ${stderr.slice(0, 500)}`);
      }),
      timed(async () => {
        for (const c of copy) await execa('bash', ['-c', c]);
      }),
    ]);
    const totalMs = performance.now() - t0;
    const counts = await admin(
      async (c) => (await c.query<{ d: string; f: string }>('SELECT (SELECT count(*) FROM ffsecurity_dossier) AS d, (SELECT count(*) FROM ffsecurity_dossierface) AS f')).rows[0],
      scratch,
    );
    return {
      totalMs,
      dumpMs,
      copyMs,
      dossiers: Number(counts?.d ?? 0),
      faces: Number(counts?.f ?? 0),
      psqlErrors: stderr.split('\n').filter((l) => l.trim() !== ''),
      command: `${dump} & ${copy.join(' && ')}`,
    };
  } finally {
    await admin((c) => c.query(`DROP DATABASE IF EXISTS ${scratch} WITH (FORCE)`)).catch(() => undefined);
  }
}
