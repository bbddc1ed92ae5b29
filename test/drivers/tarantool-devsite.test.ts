/**
 * Acceptance of the Tarantool shard driver on a dev site (real PostgreSQL, pgbouncer, two shards, the
 * writer, the systemctl shims, the integrity checker), driven from the site's own agent config:
 * back up every shard at one cut, damage the shards, restore them, and the galleries are the cut's
 * again and the integrity check reports 0 errors. Also a logical export of a dev-site shard imported
 * into a fresh instance with identical content.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SystemctlServiceManager } from '../../agent/adapters/systemctl.js';
import { createGalleryStore, createTarantoolDriver, type TarantoolComponentConfig } from '../../agent/adapters/tarantool/factory.js';
import { IprotoGalleryStore } from '../../agent/adapters/tarantool/iproto-gallery-store.js';
import type { TarantoolShardDriver } from '../../agent/domain/drivers/tarantool/driver.js';
import { exportGalleries, importGalleries } from '../../agent/domain/drivers/tarantool/logical.js';
import type { ComponentArtifact } from '../../agent/domain/drivers/types.js';
import { checkSite, downSite, startWriter, stopWriter, upSite, type SiteState } from '../../deploy/dev-site/index.js';
import { loadAgentConfig } from '../../shared/config/agent.js';
import { CancelledError } from '../../shared/errors.js';
import { silentLogger } from '../../shared/logger.js';
import { ResticRepository } from '../../shared/repository/restic.js';
import { startTarantool } from '../harness/tarantool.js';
import { waitFor } from '../harness/processes.js';
import { withClient } from './tarantool-helpers.js';

const logger = silentLogger();
const site = `tnt-accept-${randomBytes(3).toString('hex')}`;
let root: string;
let state: SiteState;
let repo: ResticRepository;
let shards: TarantoolComponentConfig[];
let drivers: TarantoolShardDriver[] = [];

beforeAll(async () => {
  root = mkdtempSync(path.join(os.tmpdir(), 'ffk-tnt-devsite-'));
  chmodSync(root, 0o755); // pgbouncer runs as postgres and must reach the site directory
  // Images at a fifth of FindFace's sizes (the same files and tree, as test/harness/fleet.ts's sites): the
  // shard driver never reads them, and the checker only looks for them.
  state = (await upSite({ site, root, shards: 2, dossiers: 300, events: 1500, vectorDim: 64, imageScale: 0.2 })).state;
  await startWriter(state, {});
  await new Promise((r) => setTimeout(r, 1500));
  await stopWriter(state);
  const config = loadAgentConfig(state.agentConfigs.tnt, {});
  shards = config.components.filter((c): c is TarantoolComponentConfig => c.kind === 'tarantool');
  const services = new SystemctlServiceManager({ pathPrepend: config.pathPrepend });
  drivers = shards.map((c) => createTarantoolDriver(c, { services, logger, timings: { startTimeoutMs: 60_000 } }));
  repo = new ResticRepository({ url: path.join(root, 'repo'), password: 'dev site tarantool acceptance' });
  await repo.init();
}, 180_000);

afterAll(async () => {
  await Promise.all(drivers.map((d) => d.close()));
  if (state) await downSite(site, root).catch(() => undefined);
  if (root) rmSync(root, { recursive: true, force: true });
});

/** Galleries' digests of every shard, by shard name. */
async function digests(): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const c of shards) {
    const store = createGalleryStore(c);
    try {
      out[c.name] = await store.digest();
    } finally {
      await store.close();
    }
  }
  return out;
}

/** Deletes records rows point at, changes normalized-image ids, adds an orphan vector: on every shard. */
async function damageShards(): Promise<void> {
  for (const c of shards) {
    await withClient(c.port, (client) =>
      client.eval(String.raw`
        local function first(space, n)
          local ids = {}
          for _, t in space:pairs() do ids[#ids + 1] = t[1] if #ids >= n then break end end
          return ids
        end
        for _, id in ipairs(first(box.space.ffsec_face_objects, 5)) do box.space.ffsec_face_objects:delete(id) end
        for _, id in ipairs(first(box.space.ffsec_face_events, 5)) do box.space.ffsec_face_events:update(id, {{'=', 3, 'damaged'}}) end
        box.space.ffsec_face_events:replace{999999999, string.rep('\0', 256), 'orphan', setmetatable({}, {__serialize = 'map'})}`),
    );
  }
}

describe('tarantool driver on a dev site', () => {
  it('restores every shard to the cut: same galleries, integrity check 0 errors', async () => {
    const before = await checkSite(state);
    expect(before.errors).toBe(0);
    for (const d of drivers) await d.prepare();
    for (const d of drivers) await d.freeze();
    const cuts = [];
    for (const d of drivers) cuts.push(await d.cut());
    for (const d of drivers) await d.thaw();
    const atCut = await digests();

    const artifacts: ComponentArtifact[] = [];
    for (const d of drivers) artifacts.push(await d.upload({ jobId: 'up-1', tags: { site, cutId: 'cut-1', component: d.ref }, repository: repo, logger }));
    expect(artifacts.map((a) => a.cut)).toEqual(cuts);
    expect(artifacts.every((a) => a.details?.['model:ffsec_face_objects'] === state.vectors.models.ffsec_face_objects)).toBe(true);

    await damageShards();
    const damaged = await checkSite(state);
    expect(damaged.errors).toBeGreaterThan(0);
    expect(await digests()).not.toEqual(atCut);

    for (const [i, d] of drivers.entries()) {
      const report = await d.restore({ jobId: 'restore-1', artifact: artifacts[i] as ComponentArtifact, repository: repo, logger });
      expect(report.steps.every((s) => s.ok)).toBe(true);
    }
    expect(await digests()).toEqual(atCut);
    const after = await checkSite(state);
    expect(after.errors).toBe(0);
    expect(after.counts).toEqual(before.counts);
  });

  it('exports a dev-site shard logically; an interrupted import into a fresh instance, run again, ends identical', async () => {
    const shard = shards[0] as TarantoolComponentConfig;
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ffk-tnt-devsite-export-'));
    const target = await startTarantool({ extraLua: "rawset(_G, 'ffk_test_ready', true)" });
    const source = createGalleryStore(shard);
    const store = new IprotoGalleryStore({ host: target.host, port: target.port });
    try {
      await waitFor(() => withClient(target.port, async (c) => (await c.eval("return rawget(_G, 'ffk_test_ready') == true"))[0] === true), 10_000, 20);
      const manifest = await exportGalleries({ store: source, dir, verify: true });
      expect(manifest.galleries.map((g) => g.model)).toEqual(manifest.galleries.map((g) => state.vectors.models[g.name as keyof typeof state.vectors.models]));
      const abort = new AbortController();
      const interrupted = importGalleries({ store, dir, batchSize: 100, signal: abort.signal, onProgress: (p) => p.done >= 200 && abort.abort() });
      await expect(interrupted).rejects.toThrow(CancelledError);
      expect(await store.digest()).not.toEqual(await source.digest());
      const result = await importGalleries({ store, dir, batchSize: 100 });
      expect(result.galleries.reduce((n, g) => n + g.skipped, 0)).toBeGreaterThanOrEqual(200);
      expect(result.differing).toEqual([]);
      expect(await store.digest()).toEqual(await source.digest());
    } finally {
      await Promise.all([source.close(), store.close()]);
      await target.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
