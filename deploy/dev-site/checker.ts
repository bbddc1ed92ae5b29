/**
 * The integrity checker: every dossier face row → its record in `ffsec_face_objects` on the right shard
 * → its files; every event row → its record in `ffsec_face_events` → its files; row → row references.
 * Dangling references are errors; records and files no row refers to are orphans (warnings).
 *
 * It is safe to run while the writer writes. Rows are read first (one snapshot, committed rows only),
 * then records, then files: the writer creates files → record → row and deletes row → record → files, so
 * a committed row's record and files were there before the row was read. What looks dangling because it
 * was deleted in between is re-verified against fresh reads before it is reported; likewise orphans that
 * were only in flight when the rows were read.
 */
import { FACE_EVENTS, FACE_OBJECTS } from './items.js';
import { buildReport, type CheckIssue, type CheckReport } from './check-report.js';
import { readRows, recheckDangling, recheckOrphans, type RowRef } from './checker-db.js';
import { ownerConfig, withClient } from './schema.js';
import { ShardSet } from './shards.js';
import { parseGalleryModel } from './facen.js';
import { schemaModels, servingShards } from './instances.js';
import { GALLERIES, type GalleryName, type SiteState } from './state.js';
import { fileKey, listFiles } from './uploads.js';

/** Where a record was found: shard index → normalized-image id. */
type RecordIndex = Map<number, Map<number, string>>;

/** Checks a site that is up. */
export async function checkSiteState(state: SiteState): Promise<CheckReport> {
  const started = Date.now();
  const shards = await ShardSet.connect(state.sandboxOf ? state.shards : servingShards(state));
  try {
    return await withClient(ownerConfig(state.postgres), async (db) => {
      const rows = await readRows(db);
      const issues: CheckIssue[] = [...rows.rowRefIssues];
      const records = new Map<GalleryName, RecordIndex>();
      for (const gallery of [FACE_OBJECTS, FACE_EVENTS]) records.set(gallery, await indexRecords(shards, gallery));
      const files = await listFiles(state.uploads);
      const found = compare({ rows: rows.refs, records, files, shards });
      issues.push(...(await recheckDangling(db, shards, state.uploads, found.dangling)));
      issues.push(...(await recheckOrphans(db, shards, state.uploads, found.orphans)));
      const galleryCounts = await checkGalleries(state, shards, issues);
      return buildReport(state.site, issues, { dossierFaces: rows.faceCount, events: rows.eventCount, records: galleryCounts, files: files.size }, started);
    });
  } finally {
    shards.close();
  }
}

async function indexRecords(shards: ShardSet, gallery: GalleryName): Promise<RecordIndex> {
  const index: RecordIndex = new Map();
  for (let i = 0; i < shards.shards.length; i++) {
    const { ids, norms } = await shards.scan(gallery, i);
    for (let k = 0; k < ids.length; k++) {
      const id = ids[k] as number;
      let where = index.get(id);
      if (!where) index.set(id, (where = new Map()));
      where.set(i, norms[k] as string);
    }
  }
  return index;
}

interface CompareInput {
  rows: RowRef[];
  records: Map<GalleryName, RecordIndex>;
  files: Set<string>;
  shards: ShardSet;
}

/** First-pass findings: candidates to re-verify before they are reported. */
export interface Findings {
  dangling: CheckIssue[];
  orphans: CheckIssue[];
}

function compare(input: CompareInput): Findings {
  const dangling: CheckIssue[] = [];
  const referencedFiles = new Set<string>();
  const referencedRecords = new Map<GalleryName, Set<string>>([...input.records.keys()].map((g) => [g, new Set<string>()]));
  for (const row of input.rows) {
    const shard = input.shards.shardOf(row.recordId);
    const shardName = input.shards.shards[shard]?.name ?? String(shard);
    const base = { table: row.table, rowId: row.id, gallery: row.gallery, recordId: row.recordId, shard: shardName };
    const where = input.records.get(row.gallery)?.get(row.recordId);
    referencedRecords.get(row.gallery)?.add(`${row.recordId}@${shard}`);
    const what = `${row.table} row ${row.id}`;
    if (!where) {
      dangling.push({ ...base, severity: 'error', kind: 'missing-record', detail: `${what} references record ${row.recordId} in ${row.gallery}, found on no shard (expected ${shardName})` });
    } else if (!where.has(shard)) {
      dangling.push({ ...base, severity: 'error', kind: 'misplaced-record', detail: `${what} references record ${row.recordId} in ${row.gallery}: not on ${shardName}, only on another shard` });
    } else if (where.get(shard) !== row.normalized) {
      dangling.push({ ...base, severity: 'error', kind: 'record-mismatch', detail: `${what}: record ${row.recordId} in ${row.gallery} names normalized image '${where.get(shard)}', the row '${row.normalized}'` });
    }
    for (const ref of row.files) {
      const key = fileKey(ref);
      referencedFiles.add(key);
      if (!input.files.has(key)) dangling.push({ ...base, severity: 'error', kind: 'missing-file', file: key, detail: `${what} references file ${key}, which does not exist` });
    }
  }
  const orphans: CheckIssue[] = [];
  for (const [gallery, index] of input.records) {
    const referenced = referencedRecords.get(gallery) ?? new Set<string>();
    for (const [id, where] of index) {
      for (const shard of where.keys()) {
        if (referenced.has(`${id}@${shard}`)) continue;
        const shardName = input.shards.shards[shard]?.name ?? String(shard);
        orphans.push({ severity: 'warning', kind: 'orphan-record', gallery, recordId: id, shard: shardName, detail: `record ${id} in ${gallery} on ${shardName} is referenced by no row` });
      }
    }
  }
  for (const key of input.files) {
    if (!referencedFiles.has(key)) orphans.push({ severity: 'warning', kind: 'orphan-file', file: key, detail: `file ${key} is referenced by no row` });
  }
  return { dangling, orphans };
}

/** Every gallery on every shard must exist with the site's model; returns record counts per gallery. */
async function checkGalleries(state: SiteState, shards: ShardSet, issues: CheckIssue[]): Promise<Partial<Record<GalleryName, number>>> {
  const counts: Partial<Record<GalleryName, number>> = {};
  // The models the site extracts with now (its extraction-api's), which a migration changes.
  const models = schemaModels(state);
  for (let i = 0; i < shards.shards.length; i++) {
    const shard = shards.shards[i]?.name ?? String(i);
    const list = await shards.galleries(i);
    for (const gallery of GALLERIES) {
      const g = list.find((x) => x.name === gallery);
      const expected = models[gallery];
      const dim = parseGalleryModel(expected).dim;
      if (!g) {
        issues.push({ severity: 'error', kind: 'gallery-model', gallery, shard, detail: `gallery ${gallery} is missing on ${shard}` });
        continue;
      }
      counts[gallery] = (counts[gallery] ?? 0) + g.count;
      if (g.model !== expected || g.dim !== dim) {
        issues.push({ severity: 'error', kind: 'gallery-model', gallery, shard, detail: `gallery ${gallery} on ${shard} holds model '${g.model}' (${g.dim}-dim), the site uses '${expected}' (${dim}-dim)` });
      }
    }
  }
  return counts;
}
