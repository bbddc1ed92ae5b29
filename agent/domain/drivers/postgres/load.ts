/**
 * Loading a dump from the repository into a database, shared by the restore and the verify sandbox:
 * repository → sha256 of the bytes as recorded → foreign keys rewritten `NOT VALID` (not-valid.ts) → psql
 * in one transaction that commits only after a clean end with the recorded sha256 and length. Then every
 * deferred foreign key is validated on its own: one that holds becomes an ordinary constraint, one the
 * restored rows violate stays NOT VALID and is returned as a warning — a snapshot of a damaged site
 * restores as it was instead of failing.
 */
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream';
import type { Repository } from '../../../../shared/repository/repository.js';
import type { RestoreContext } from '../types.js';
import { constraintWarnings, NotValidForeignKeys } from './not-valid.js';
import type { DatabaseServer, SqlLoader } from './ports.js';
import { checkLoaded, type DumpSource } from './dump-source.js';
import { Sha256Stream } from './streams.js';

export interface LoadedDump {
  bytes: number;
  /** One line for the step's report: bytes, checksum, constraints. */
  detail: string;
  /** The constraints the restored rows violate (each stays NOT VALID), as sentences. */
  warnings: string[];
}

export async function loadDump(p: {
  loader: SqlLoader;
  server: DatabaseServer;
  repository: Repository;
  database: string;
  source: DumpSource;
  /** The dump's stream from its first byte when a check opened it already (dump-source.ts); else opened here. */
  input?: Readable;
  /** Hashes what is read; pass one to watch the bytes go by (progress). */
  hasher?: Sha256Stream;
  signal?: AbortSignal;
}): Promise<LoadedDump> {
  const signal = p.signal ? { signal: p.signal } : {};
  const input: Readable = p.input ?? p.repository.dump({ snapshotId: p.source.snapshotId, path: p.source.file }, signal);
  const hasher = p.hasher ?? new Sha256Stream();
  const rewrite = new NotValidForeignKeys();
  pipeline(input, hasher, rewrite, () => undefined); // an input error destroys the rest; the loader sees it and aborts
  await p.loader.load({ database: p.database, input: rewrite, beforeCommit: async () => checkLoaded(hasher, p.source), ...signal });
  const checks = rewrite.deferred.length > 0 ? await p.server.validateConstraints(p.database, rewrite.deferred) : [];
  const warnings = constraintWarnings(checks);
  const keys = `${checks.length} foreign key${checks.length === 1 ? '' : 's'}`;
  const constraints = warnings.length === 0 ? `${keys} validated` : `${keys}, ${warnings.length} violated by the restored rows (left NOT VALID): ${warnings.join('; ')}`;
  return { bytes: hasher.bytes, warnings, detail: `${hasher.bytes} bytes loaded, sha256 ${p.source.sha256 === undefined ? 'not recorded' : 'verified'}; ${constraints}` };
}

/**
 * `loadDump` for a restore: reports the bytes loaded as `ref`'s `load` progress every `intervalMs` (and once
 * at the end), logs each violated constraint as a warning, and returns the step's detail.
 */
export async function loadDumpReporting(
  ports: { loader: SqlLoader; server: DatabaseServer },
  ctx: Pick<RestoreContext, 'repository' | 'logger' | 'onProgress' | 'signal'>,
  p: { ref: string; database: string; source: DumpSource; intervalMs: number; input?: Readable },
): Promise<string> {
  const hasher = new Sha256Stream();
  const total = p.source.bytes;
  const report = (): void =>
    ctx.onProgress?.({
      component: p.ref,
      step: 'load',
      event: { kind: 'progress', bytesDone: hasher.bytes, bytesTotal: Math.max(hasher.bytes, total), filesDone: hasher.bytes >= total ? 1 : 0, filesTotal: 1 },
    });
  const timer = setInterval(report, p.intervalMs);
  try {
    const loaded = await loadDump({
      ...ports,
      repository: ctx.repository,
      database: p.database,
      source: p.source,
      hasher,
      ...(p.input ? { input: p.input } : {}),
      ...(ctx.signal ? { signal: ctx.signal } : {}),
    });
    for (const w of loaded.warnings) ctx.logger.warn({ component: p.ref, database: p.database }, w);
    return loaded.detail;
  } finally {
    clearInterval(timer);
    report();
  }
}
