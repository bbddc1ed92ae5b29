/**
 * The PostgreSQL driver on a dev site (real PostgreSQL, the site's pgbouncer, Tarantool shards, upload
 * directories, the writer as `findface-security`, the site's `systemctl` and `findface-security` shims),
 * configured from the site's own agent config for its `db` host:
 * - back up, change rows, restore by FindFace's sequence through the site's shims, compare every table
 *   with the state at the cut, start the app and end with the integrity checker at 0 errors;
 * - a `findface-security` unit that refuses to stop: the restore stops there, names the step, and the
 *   site (app still writing, database intact) checks clean;
 * - a wrong repository password: clear error, nothing changed.
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPostgresDriver } from '../../agent/adapters/postgres/factory.js';
import { SystemctlServiceManager } from '../../agent/adapters/systemctl.js';
import { RestoreStepFailedError } from '../../agent/domain/drivers/postgres/steps.js';
import type { ComponentArtifact } from '../../agent/domain/drivers/types.js';
import type { ServiceManager } from '../../agent/domain/ports.js';
import { checkSite, downSite, readWriterStats, startWriter, stopWriter, upSite, type SiteState } from '../../deploy/dev-site/index.js';
import { loadAgentConfig } from '../../shared/config/agent.js';
import { silentLogger } from '../../shared/logger.js';
import { RepositoryWrongPasswordError } from '../../shared/repository/errors.js';
import { ResticRepository } from '../../shared/repository/restic.js';
import { tableSums, tempRepository, type TableSums } from './postgres-support.js';

const SITE = `pgd-${process.pid}`;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * The dev site's writer rewrites its stats file in place, so reading it (also inside `startWriter`) can
 * meet a half-written file (SyntaxError). Retried here; reported to the dev site's owner.
 */
async function tornReadRetry<T>(fn: () => T | Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await fn();
    } catch (err) {
      if (!(err instanceof SyntaxError) || attempt >= 5) throw err;
      await sleep(50);
    }
  }
}

let root: string;
let state: SiteState;
let repository: Awaited<ReturnType<typeof tempRepository>>;
let connectionString: string;

function componentOfSite(): { config: ReturnType<typeof loadAgentConfig>; pgc: Extract<ReturnType<typeof loadAgentConfig>['components'][number], { kind: 'postgres' }> } {
  const file = state.agentConfigs.db;
  if (!file) throw new Error(`dev site ${SITE} wrote no agent config for host 'db'`);
  const config = loadAgentConfig(file, {});
  const pgc = config.components.find((c) => c.kind === 'postgres');
  if (pgc?.kind !== 'postgres') throw new Error(`no postgres component in ${file}`);
  return { config, pgc };
}

function driverOfSite(options: { pathPrepend?: string[]; services?: ServiceManager } = {}): ReturnType<typeof createPostgresDriver> {
  const { config, pgc } = componentOfSite();
  return createPostgresDriver(pgc, { logger: silentLogger(), pathPrepend: [...(options.pathPrepend ?? []), ...config.pathPrepend], ...(options.services ? { services: options.services } : {}) });
}

/** The site's own systemctl, except that starting the app is held back until `release()` (so the restored tables can be compared before the app writes again). */
class HeldAppStart implements ServiceManager {
  private readonly real: ServiceManager;
  held = false;

  constructor(pathPrepend: string[]) {
    this.real = new SystemctlServiceManager({ pathPrepend });
  }

  start(unit: string): Promise<void> {
    if (unit !== 'findface-security') return this.real.start(unit);
    this.held = true;
    return Promise.resolve();
  }

  stop = (unit: string): Promise<void> => this.real.stop(unit);
  isActive = (unit: string): Promise<boolean> => this.real.isActive(unit);
  release = (): Promise<void> => this.real.start('findface-security');
}

async function changeSite(): Promise<void> {
  const c = new pg.Client({ connectionString });
  await c.connect();
  try {
    await c.query(`
      UPDATE ffsecurity_dossier SET name = name || ' (renamed after the backup)' WHERE id % 3 = 0;
      INSERT INTO ffsecurity_watchlist (name) VALUES ('added after the backup');
      DELETE FROM ffsecurity_event WHERE id IN (SELECT id FROM ffsecurity_event ORDER BY id LIMIT 50);
    `);
  } finally {
    await c.end();
  }
}

beforeAll(async () => {
  root = mkdtempSync(path.join(os.tmpdir(), 'ffk-pg-devsite-'));
  chmodSync(root, 0o755); // pgbouncer runs as 'postgres' and must reach the site directory
  ({ state } = await upSite({ site: SITE, root, shards: 2, dossiers: 200, events: 600, vectorDim: 64 }));
  connectionString = `postgres://${state.postgres.superuser}@${state.postgres.host}:${state.postgres.port}/${state.postgres.database}`;
  repository = await tempRepository();
}, 180_000);

afterAll(async () => {
  try {
    if (state) await stopWriter(state).catch(() => undefined);
    await downSite(SITE, root);
  } finally {
    repository?.remove();
    rmSync(root, { recursive: true, force: true });
  }
}, 120_000);

describe('PostgreSQL driver on a dev site', () => {
  let artifact: ComponentArtifact;
  let atCut: TableSums;

  it('backs up, restores by the documented sequence through the site shims, and the site checks clean', { timeout: 240_000 }, async () => {
    await tornReadRetry(() => startWriter(state, { rate: 40, concurrency: 4 }));
    await sleep(2000);
    await stopWriter(state);
    expect((await checkSite(state)).errors).toBe(0);

    const driver = driverOfSite();
    await driver.prepare();
    await driver.freeze();
    const cut = await driver.cut().finally(() => driver.thaw());
    if (cut.kind !== 'postgres') throw new Error('unreachable');
    atCut = await tableSums(connectionString, cut.snapshotName);
    artifact = await driver.upload({ jobId: 'j', tags: { site: SITE, cutId: 'dev-1', component: driver.ref }, repository: repository.repo, logger: silentLogger() });

    await changeSite();
    expect(await tableSums(connectionString)).not.toEqual(atCut);

    const { config } = componentOfSite();
    const services = new HeldAppStart(config.pathPrepend);
    const report = await driverOfSite({ services }).restore({ jobId: 'r', artifact, repository: repository.repo, logger: silentLogger() });
    expect(report.steps.every((s) => s.ok)).toBe(true);
    expect(report.steps.at(-1)?.step).toBe('start findface-security');
    expect(services.held).toBe(true);
    expect(await tableSums(connectionString)).toEqual(atCut);

    await services.release(); // the app (the writer) starts on the restored database
    await sleep(2000);
    const stats = await stopWriter(state);
    expect(stats?.writes).toBeGreaterThan(0);
    expect(stats?.errors).toBe(0);
    const check = await checkSite(state);
    console.log(`dev site after restore: ${check.errors} errors, ${check.warnings} warnings; dump ${artifact.bytes} bytes; steps ${report.steps.map((s) => `${s.step}=${s.durationMs}ms`).join(', ')}`);
    expect(check.issues.filter((i) => i.severity === 'error')).toEqual([]);
    expect(check.errors).toBe(0);
  });

  it('a findface-security that refuses to stop: the restore stops there and the site stays as it was', { timeout: 120_000 }, async () => {
    expect(artifact).toBeDefined();
    const refusing = mkdtempSync(path.join(os.tmpdir(), 'ffk-pg-refuse-'));
    try {
      writeFileSync(
        path.join(refusing, 'systemctl'),
        `#!/bin/sh\nif [ "$1" = stop ] && [ "$2" = findface-security ]; then echo "Job for findface-security.service canceled (refuses to stop)" >&2; exit 1; fi\nexec ${path.join(state.binDir, 'systemctl')} "$@"\n`,
      );
      chmodSync(path.join(refusing, 'systemctl'), 0o755);
      await tornReadRetry(() => startWriter(state, { rate: 40, concurrency: 4 }));
      const statsBefore = await tornReadRetry(() => readWriterStats(state));
      const writesBefore = statsBefore?.writes ?? 0;
      const dossiersBefore = await tableSums(connectionString).then((s) => s.ffsecurity_dossier?.rows ?? 0);
      const err = await driverOfSite({ pathPrepend: [refusing] })
        .restore({ jobId: 'r', artifact, repository: repository.repo, logger: silentLogger() })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RestoreStepFailedError);
      expect((err as RestoreStepFailedError).step).toBe('stop findface-security');
      expect((err as RestoreStepFailedError).siteChanged).toBe(false);
      expect((err as Error).message).toContain('systemctl stop findface-security failed (exit 1): Job for findface-security.service canceled (refuses to stop)');
      await sleep(1500);
      const stats = await stopWriter(state); // the app kept writing through pgbouncer all along
      expect(stats?.writes ?? 0).toBeGreaterThan(writesBefore);
      expect(stats?.errors).toBe(0);
      // Nothing but the writer removed dossiers: each of its deletes removes one (a fixed margin here failed on a busy machine).
      const deletes = (stats?.byKind.dossierDelete ?? 0) - (statsBefore?.byKind.dossierDelete ?? 0);
      expect(await tableSums(connectionString).then((s) => s.ffsecurity_dossier?.rows ?? 0)).toBeGreaterThanOrEqual(dossiersBefore - deletes);
      const check = await checkSite(state);
      expect(check.errors).toBe(0);
    } finally {
      await stopWriter(state).catch(() => undefined); // whatever failed, the next test needs a quiet site
      rmSync(refusing, { recursive: true, force: true });
    }
  });

  it('a wrong repository password gives a clear error and changes nothing on the site', { timeout: 60_000 }, async () => {
    const before = await tableSums(connectionString);
    const wrong = new ResticRepository({ url: repository.url, password: 'not-the-site-password' });
    const err = await driverOfSite().restore({ jobId: 'r', artifact, repository: wrong, logger: silentLogger() }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RestoreStepFailedError);
    expect((err as RestoreStepFailedError).cause).toBeInstanceOf(RepositoryWrongPasswordError);
    expect((err as Error).message).toBe(`restore of postgres:ffsecurity stopped at step 'check artifact': wrong password for repository ${repository.url}; nothing on the site was changed`);
    expect(await tableSums(connectionString)).toEqual(before);
    expect((await checkSite(state)).errors).toBe(0);
  });
});
