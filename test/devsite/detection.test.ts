/**
 * The integrity checker finds what is broken by hand, one case per test, each asserting the exact
 * issues of the entity it damaged: a removed gallery record, a removed file, a removed row (orphans),
 * a removed referenced row (dangling row reference), a record on the wrong shard. Also: the galleries
 * refuse vectors of another model, and `check --json` exits non-zero.
 */
import { execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkSite, ShardSet, upSite, type CheckIssue, type CheckReport, type SiteState } from '../../deploy/dev-site/index.js';
import { cliCommand } from '../../deploy/dev-site/self.js';
import { randomVector } from '../../deploy/dev-site/shards.js';
import { TarantoolError } from '../../shared/tarantool/iproto.js';
import { cleanRoot, superuserClient, testRoot, uniqueSite } from './fixtures.js';

const root = testRoot();
const site = uniqueSite('det');

describe('dev site integrity checker', () => {
  let state: SiteState;
  let db: pg.Client;
  let shards: ShardSet;

  const shardName = (recordId: number): string => state.shards[recordId % state.shards.length]?.name ?? '?';
  const aboutRow = (r: CheckReport, table: string, id: number): CheckIssue[] => r.issues.filter((i) => i.table === table && i.rowId === id);
  const one = async <T extends pg.QueryResultRow>(sql: string): Promise<T> => (await db.query<T>(sql)).rows[0] as T;

  beforeAll(async () => {
    ({ state } = await upSite({ site, root, dossiers: 40, events: 120 }));
    db = await superuserClient(state);
    shards = await ShardSet.connect(state.shards);
  }, 120_000);

  afterAll(async () => {
    shards?.close();
    await db?.end();
    await cleanRoot(root);
  }, 60_000);

  it('finds nothing wrong with a freshly generated site', async () => {
    const report = await checkSite(site, root);
    expect(report.issues).toEqual([]);
    expect(report).toMatchObject({ ok: true, errors: 0, warnings: 0 });
  });

  it('reports a removed gallery record as a dangling reference (error)', async () => {
    const row = await one<{ id: string; record_id: string }>('SELECT id, record_id FROM ffsecurity_event ORDER BY id LIMIT 1 OFFSET 5');
    const recordId = Number(row.record_id);
    expect(await shards.delete('ffsec_face_events', [recordId])).toBe(1);
    const report = await checkSite(site, root);
    expect(report.ok).toBe(false);
    expect(aboutRow(report, 'ffsecurity_event', Number(row.id))).toEqual([
      expect.objectContaining({ severity: 'error', kind: 'missing-record', gallery: 'ffsec_face_events', recordId, shard: shardName(recordId) }),
    ]);
  });

  it('reports a removed file as a dangling reference (error)', async () => {
    const row = await one<{ id: string; thumbnail: string }>('SELECT id, thumbnail FROM ffsecurity_dossierface ORDER BY id LIMIT 1 OFFSET 3');
    rmSync(path.join(state.uploads.uploadsDir, row.thumbnail));
    const report = await checkSite(site, root);
    expect(report.ok).toBe(false);
    expect(aboutRow(report, 'ffsecurity_dossierface', Number(row.id))).toEqual([
      expect.objectContaining({ severity: 'error', kind: 'missing-file', file: `uploads:${row.thumbnail}` }),
    ]);
  });

  it('reports the record and files of a removed dossier-face row as orphans (warnings)', async () => {
    const row = await one<{ id: string; record_id: string; source_photo: string; thumbnail: string; normalized: string }>(
      'SELECT id, record_id, source_photo, thumbnail, normalized FROM ffsecurity_dossierface ORDER BY id DESC LIMIT 1',
    );
    await db.query('DELETE FROM ffsecurity_dossierface WHERE id = $1', [row.id]);
    const recordId = Number(row.record_id);
    const report = await checkSite(site, root);
    const orphans = report.issues.filter((i) => i.recordId === recordId || [row.source_photo, row.thumbnail, row.normalized].some((f) => i.file?.endsWith(`:${f}`)));
    expect(orphans.map((i) => `${i.severity} ${i.kind} ${i.file ?? `${i.gallery}/${i.recordId}@${i.shard}`}`).sort()).toEqual(
      [
        `warning orphan-record ffsec_face_objects/${recordId}@${shardName(recordId)}`,
        `warning orphan-file uploads:${row.source_photo}`,
        `warning orphan-file uploads:${row.thumbnail}`,
        `warning orphan-file ffupload:${row.normalized}`,
      ].sort(),
    );
    expect(report.warnings).toBe(4);
  });

  it('reports rows pointing at a removed referenced row (a dossier) as dangling row references (errors)', async () => {
    const target = await one<{ dossier_id: string; faces: string[] }>(
      'SELECT dossier_id, array_agg(id ORDER BY id)::text[] AS faces FROM ffsecurity_dossierface GROUP BY dossier_id ORDER BY dossier_id LIMIT 1 OFFSET 10',
    );
    // Bypass the foreign keys (and their cascades), as a careless manual fix or a partial restore would.
    await db.query('BEGIN');
    await db.query('SET LOCAL session_replication_role = replica');
    await db.query('DELETE FROM ffsecurity_dossier WHERE id = $1', [target.dossier_id]);
    await db.query('COMMIT');
    const report = await checkSite(site, root);
    expect(report.ok).toBe(false);
    for (const face of target.faces) {
      expect(aboutRow(report, 'ffsecurity_dossierface', Number(face))).toEqual([
        expect.objectContaining({ severity: 'error', kind: 'dangling-row-ref', detail: `ffsecurity_dossierface row ${face} references dossier ${target.dossier_id}, which does not exist` }),
      ]);
    }
    expect(report.issues.filter((i) => i.table === 'ffsecurity_dossier_watch_lists' && i.kind === 'dangling-row-ref').length).toBeGreaterThan(0);
  });

  it('reports a record that sits on the wrong shard (error)', async () => {
    const row = await one<{ id: string; record_id: string; normalized: string }>('SELECT id, record_id, normalized FROM ffsecurity_event WHERE matched_dossier_id IS NULL ORDER BY id LIMIT 1 OFFSET 20');
    const recordId = Number(row.record_id);
    const right = recordId % state.shards.length;
    const wrong = (right + 1) % state.shards.length;
    await shards.client(right).call('ffk_delete', ['ffsec_face_events', [recordId]]);
    await shards.client(wrong).call('ffk_insert', ['ffsec_face_events', state.vectors.models.ffsec_face_events, [[recordId, randomVector(state.vectors.dim), row.normalized, {}]]]);
    const report = await checkSite(site, root);
    expect(aboutRow(report, 'ffsecurity_event', Number(row.id))).toEqual([
      expect.objectContaining({ severity: 'error', kind: 'misplaced-record', recordId, shard: shardName(recordId) }),
    ]);
  });

  it('refuses a vector of another model (or size), naming the gallery and both models', async () => {
    const id = 9_000_000;
    const model = state.vectors.models.ffsec_face_objects;
    const wrongModel = await shards.client(0).call('ffk_insert', ['ffsec_face_objects', 'face-other-512', [[id, randomVector(state.vectors.dim), 'x.jpg', {}]]]).catch((e: unknown) => e);
    expect(wrongModel).toBeInstanceOf(TarantoolError);
    expect((wrongModel as TarantoolError).serverMessage).toBe(`gallery 'ffsec_face_objects' holds vectors of model '${model}', refusing a vector of model 'face-other-512'`);
    const wrongSize = await shards.client(0).call('ffk_insert', ['ffsec_face_objects', model, [[id, randomVector(state.vectors.dim / 2), 'x.jpg', {}]]]).catch((e: unknown) => e);
    expect(wrongSize).toBeInstanceOf(TarantoolError);
    expect((wrongSize as TarantoolError).serverMessage).toBe(
      `gallery 'ffsec_face_objects' (model '${model}') expects ${state.vectors.dim}-dim float32 vectors (${state.vectors.dim * 4} bytes), record ${id} has ${state.vectors.dim * 2} bytes`,
    );
    expect((await shards.get('ffsec_face_objects', 0, [id])).ids).toEqual([]);
  });

  it('check --json exits non-zero and lists the errors', async () => {
    const cli = cliCommand();
    const result = await promisify(execFile)(cli.command, [...cli.args, 'check', '--site', site, '--root', root, '--json']).then(
      () => ({ code: 0, stdout: '' }),
      (err: { code: number; stdout: string }) => ({ code: err.code, stdout: err.stdout }),
    );
    expect(result.code).toBe(1);
    const report = JSON.parse(result.stdout) as CheckReport;
    expect(report.ok).toBe(false);
    expect(Object.keys(report.byKind).sort()).toEqual(['dangling-row-ref', 'misplaced-record', 'missing-file', 'missing-record', 'orphan-file', 'orphan-record']);
  }, 30_000);
});
