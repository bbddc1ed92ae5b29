/**
 * `status`: a site's units (running or not, pid, port), its row and record counts and the writer's
 * latest stats. Counts are best effort: a stopped database or shard shows as unavailable, not an error.
 */
import { describeError } from '../../shared/errors.js';
import { ownerConfig, withClient } from './schema.js';
import { servingShards } from './instances.js';
import { ShardSet, type GalleryInfo } from './shards.js';
import type { SiteState } from './state.js';
import { readWriterStats, unitStatuses } from './units.js';
import type { WriterStats } from './writer.js';

export interface SiteStatus {
  site: string;
  siteDir: string;
  database: string;
  ports: { pgbouncer: number; sfApi: number; extractionApi?: number; shards: Record<string, number> };
  units: Array<{ unit: string; active: boolean; pid: number | undefined }>;
  rows: Record<string, number> | { unavailable: string };
  galleries: Record<string, GalleryInfo[]> | { unavailable: string };
  writer: WriterStats | undefined;
  agentConfigs: Record<string, string>;
}

const COUNTED_TABLES = ['ffsecurity_dossier', 'ffsecurity_dossierface', 'ffsecurity_event', 'ffsecurity_watchlist', 'ffsecurity_camera', 'users_user'];

export async function siteStatus(state: SiteState): Promise<SiteStatus> {
  return {
    site: state.site,
    siteDir: state.siteDir,
    database: state.postgres.database,
    ports: {
      pgbouncer: state.pgbouncer.port,
      sfApi: state.sfApi.port,
      ...(state.extractionApi ? { extractionApi: state.extractionApi.port } : {}),
      shards: Object.fromEntries(state.shards.map((s) => [s.name, s.port])),
    },
    units: unitStatuses(state).map((u) => ({ ...u, active: u.pid !== undefined })),
    rows: await rowCounts(state).catch((err: unknown) => ({ unavailable: describeError(err) })),
    galleries: await galleryInfo(state).catch((err: unknown) => ({ unavailable: describeError(err) })),
    writer: readWriterStats(state),
    agentConfigs: state.agentConfigs,
  };
}

async function rowCounts(state: SiteState): Promise<Record<string, number>> {
  return withClient(ownerConfig(state.postgres), async (db) => {
    const sql = COUNTED_TABLES.map((t) => `(SELECT count(*) FROM ${t}) AS ${t}`).join(', ');
    const row = (await db.query<Record<string, string>>(`SELECT ${sql}`)).rows[0] ?? {};
    return Object.fromEntries(Object.entries(row).map(([k, v]) => [k, Number(v)]));
  });
}

async function galleryInfo(state: SiteState): Promise<Record<string, GalleryInfo[]>> {
  const serving = servingShards(state);
  const shards = await ShardSet.connect(serving, 3_000);
  try {
    const out: Record<string, GalleryInfo[]> = {};
    for (let i = 0; i < serving.length; i++) out[serving[i]?.name ?? String(i)] = await shards.galleries(i);
    return out;
  } finally {
    shards.close();
  }
}

/** A summary for people. */
export function formatStatus(s: SiteStatus): string {
  const lines = [`dev site '${s.site}' at ${s.siteDir} (database ${s.database}, pgbouncer :${s.ports.pgbouncer})`];
  for (const u of s.units) lines.push(`  ${u.active ? 'active  ' : 'inactive'} ${u.unit}${u.pid ? ` (pid ${u.pid})` : ''}`);
  if ('unavailable' in s.rows) lines.push(`  rows: unavailable (${String(s.rows.unavailable)})`);
  else lines.push(`  rows: ${Object.entries(s.rows).map(([k, v]) => `${k}=${v}`).join(' ')}`);
  if (!('unavailable' in s.galleries)) {
    for (const [shard, list] of Object.entries(s.galleries)) {
      const galleries = list as GalleryInfo[];
      lines.push(`  ${shard}: ${galleries.filter((g) => g.count > 0).map((g) => `${g.name}=${g.count}`).join(' ') || 'empty'} (models: ${[...new Set(galleries.map((g) => g.model))].join(', ')})`);
    }
  }
  if (s.writer) lines.push(`  writer: ${s.writer.running ? 'running' : 'stopped'}, ${s.writer.writes} writes at ${s.writer.rate}/s (target ${s.writer.targetRate}/s), ${s.writer.errors} errors`);
  return lines.join('\n');
}
