/**
 * Tarantool shard driver, physical backup and restore, against a real shard run as a unit behind a
 * systemctl shim, and a real restic repository: cut → upload → change → restore → same content;
 * automatic checkpoints between cut and pin; stale pins; failing stop/start steps; wrong password.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTarantoolDriver, shardEndpoint } from '../../agent/adapters/tarantool/factory.js';
import { IprotoShardAdmin } from '../../agent/adapters/tarantool/iproto-shard-admin.js';
import { ShardRestoreError } from '../../agent/domain/drivers/tarantool/errors.js';
import type { TarantoolShardDriver } from '../../agent/domain/drivers/tarantool/driver.js';
import type { ComponentArtifact, CutPoint } from '../../agent/domain/drivers/types.js';
import { ConflictError, NotFoundError } from '../../shared/errors.js';
import { silentLogger } from '../../shared/logger.js';
import { RepositoryWrongPasswordError } from '../../shared/repository/errors.js';
import { ResticRepository } from '../../shared/repository/restic.js';
import { cutTag } from '../../shared/tags.js';
import { contentHash, processesUnder, remove, seed, startShardUnit, update, withClient, type ShardUnit } from './tarantool-helpers.js';

const PASSWORD = 'tarantool driver test password';
/** An automatic checkpoint: the checkpoint daemon waits for one in progress, then runs box.snapshot(). */
const AUTO_CHECKPOINT = "while box.info.gc().checkpoint_is_in_progress do require('fiber').sleep(0.01) end box.snapshot()";
const logger = silentLogger();
let repoRoot: string;
let repo: ResticRepository;

beforeAll(async () => {
  repoRoot = mkdtempSync(path.join(os.tmpdir(), 'ffk-tnt-repo-'));
  repo = new ResticRepository({ url: path.join(repoRoot, 'repo'), password: PASSWORD });
  await repo.init();
});
afterAll(() => rmSync(repoRoot, { recursive: true, force: true }));

let shard: ShardUnit | undefined;
let driver: TarantoolShardDriver | undefined;
afterEach(async () => {
  await driver?.close();
  driver = undefined;
  if (shard) {
    const root = shard.root;
    await shard.destroy();
    expect(processesUnder(root)).toEqual([]);
  }
  shard = undefined;
});

async function setUp(options: { vinyl?: boolean } = {}): Promise<{ shard: ShardUnit; driver: TarantoolShardDriver }> {
  shard = await startShardUnit(options);
  driver = createTarantoolDriver(shard.config, { services: shard.services, logger, timings: { startTimeoutMs: 30_000 } });
  await withClient(shard.port, async (c) => {
    await seed(c, 'ffsec_face_objects', Array.from({ length: 300 }, (_, i) => i + 1));
    await seed(c, 'ffsec_face_events', Array.from({ length: 200 }, (_, i) => 1000 + i));
    await seed(c, 'ffsec_car_events', [2n ** 60n + 5n, 7]);
    if (options.vinyl) await c.eval("for i = 1, 50 do box.space.ffk_test_vinyl:replace{i, 'v' .. i} end");
  });
  return { shard, driver };
}

/** prepare → freeze → cut → thaw, as the cut protocol calls them. */
async function takeCut(d: TarantoolShardDriver): Promise<CutPoint> {
  await d.prepare();
  await d.freeze();
  const cut = await d.cut();
  await d.thaw();
  return cut;
}

function uploadCtx(cutId: string, repository = repo) {
  return { jobId: `job-${cutId}`, tags: { site: 'tnt-test', cutId, component: 'tarantool:shard-001' }, repository, logger };
}

function restoreCtx(artifact: ComponentArtifact, jobId: string, repository = repo) {
  return { jobId, artifact, repository, logger };
}

async function pinned(s: ShardUnit): Promise<number> {
  return withClient(s.port, async (c) => {
    const [n] = await c.eval("local n = 0 for _, cp in ipairs(box.info.gc().checkpoints) do for _, r in ipairs(cp.references) do if r == 'backup' then n = n + 1 end end end return n");
    return n as number;
  });
}

describe('tarantool driver: physical backup and restore', () => {
  it('backs up the cut, and a restore after inserts, updates and deletes brings back exactly the cut', async () => {
    const { shard: s, driver: d } = await setUp({ vinyl: true });
    const cut = await takeCut(d);
    const atCut = await withClient(s.port, contentHash);
    // Written after the cut: must not be in the backup.
    await withClient(s.port, (c) => seed(c, 'ffsec_face_objects', [9001, 9002]));

    const artifact = await d.upload(uploadCtx('c1'));
    expect(cut.kind).toBe('tarantool');
    if (cut.kind !== 'tarantool') return;
    expect(artifact.cut).toEqual(cut);
    expect(artifact.snapshotIds).toHaveLength(1);
    expect(String(artifact.details?.snapFile)).toMatch(new RegExp(`${String(cut.signature).padStart(20, '0')}\\.snap$`));
    expect(artifact.details?.['model:ffsec_face_objects']).toBe('face-v1');
    expect(Number(artifact.details?.pinnedFiles)).toBeGreaterThan(1); // the .snap plus vinyl files
    expect(await pinned(s)).toBe(0);
    const snaps = await repo.listSnapshots({ tags: [cutTag('c1')] });
    expect(snaps.map((x) => x.id)).toEqual(artifact.snapshotIds);

    await withClient(s.port, async (c) => {
      await seed(c, 'ffsec_body_objects', [1, 2, 3]);
      await update(c, 'ffsec_face_objects', 5);
      await remove(c, 'ffsec_face_events', [1000, 1001, 1002]);
      await c.eval('box.space.ffk_test_vinyl:delete{1} box.space.ffk_test_vinyl:replace{2, "changed"}');
    });
    const changed = await withClient(s.port, contentHash);
    expect(changed).not.toEqual(atCut);

    const report = await d.restore(restoreCtx(artifact, 'r1'));
    expect(report.steps.map((x) => [x.step, x.ok])).toEqual([
      ['check-artifact', true],
      ['inspect', true],
      ['check-space', true],
      ['fetch', true],
      ['stop-unit', true],
      ['move-aside', true],
      ['place', true],
      ['start-unit', true],
      ['confirm-vclock', true],
      ['discard-aside', true],
      ['remove-staging', true],
    ]);
    expect(await withClient(s.port, contentHash)).toEqual(atCut);
    const sig = await withClient(s.port, async (c) => (await c.eval('return box.info.signature'))[0]);
    expect(sig).toBe(cut.signature);
    expect(await s.services.isActive(s.unit)).toBe(true);
    expect(readdirSync(s.root).filter((e) => e.includes('ffk-'))).toEqual([]);
    expect(readdirSync(path.join(s.root, 'shard')).filter((e) => e.includes('ffk-'))).toEqual([]);
  });

  it('freeze waits on the shard until its writes stop, and fails naming the shard when they go on', async () => {
    const { shard: s } = await setUp();
    // A writer in a fiber of the shard: one replace every 2 ms for `seconds`, or until told to stop; it
    // leaves the signature of its last write in a global.
    const writeFor = (seconds: number): Promise<unknown> =>
      withClient(s.port, (c) =>
        c.eval(`
          local fiber, clock = require('fiber'), require('clock')
          local sp = box.schema.space.create('ffk_test_tick', {if_not_exists = true})
          sp:create_index('pk', {if_not_exists = true})
          rawset(_G, 'ffk_tick_done', nil)
          rawset(_G, 'ffk_tick_stop', false)
          local until_t = clock.monotonic() + ${seconds}
          fiber.create(function()
            local i = 0
            while clock.monotonic() < until_t and not rawget(_G, 'ffk_tick_stop') do
              i = i + 1
              sp:replace{1, i}
              fiber.sleep(0.002)
            end
            rawset(_G, 'ffk_tick_done', box.info.signature)
          end)`),
      );
    // Settle times longer than the default 20 ms: "no write for that long" is what the freeze judges, and a
    // busy machine can keep this writer from running for tens of milliseconds (a clean-clone run did).
    const timed = createTarantoolDriver(s.config, { services: s.services, logger, timings: { freezeSettleMs: 200, freezeTimeoutMs: 10_000 } });
    const impatient = createTarantoolDriver(s.config, { services: s.services, logger, timings: { freezeSettleMs: 200, freezeTimeoutMs: 600 } });
    try {
      await writeFor(0.3);
      await timed.freeze();
      // The writer had ended when the freeze returned: its last write is the shard's last.
      const [done, now] = await withClient(s.port, (c) => c.eval("return rawget(_G, 'ffk_tick_done'), box.info.signature"));
      expect(done).not.toBeNull();
      expect(done).toBe(now);

      await writeFor(10);
      await expect(impatient.freeze()).rejects.toThrow(/^tarantool:shard-001: writes did not stop within 600 ms \(signature still moving, at \d+\)$/);
      await withClient(s.port, (c) => c.eval("rawset(_G, 'ffk_tick_stop', true)"));
    } finally {
      await Promise.all([timed.close(), impatient.close()]);
    }
  });

  it('the write watcher started at prepare counts quiet time from before the freeze call: a shard already quiet answers at once, one written since waits', async () => {
    const { shard: s } = await setUp();
    const admin = new IprotoShardAdmin(shardEndpoint(s.config));
    const settleMs = 50;
    /** The watcher's own verdict: quiet for the settle time, with one look per 2 ms of it. */
    const watcherSaysQuiet = (): Promise<boolean> =>
      withClient(s.port, async (c) => {
        const [quiet] = await c.eval(
          `local w = rawget(_G, 'ffk_watch')
           if w == nil then return false end
           return box.info.signature == w.last and require('clock').monotonic() - w.since >= ${settleMs / 1000} and w.looks >= ${Math.ceil(settleMs / 2)}`,
        );
        return quiet === true;
      });
    const untilWatcherSaysQuiet = async (): Promise<void> => {
      const deadline = Date.now() + 30_000;
      while (!(await watcherSaysQuiet())) {
        if (Date.now() > deadline) throw new Error('the write watcher never saw the shard quiet');
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    const watching = (): Promise<boolean> => withClient(s.port, async (c) => (await c.eval("return rawget(_G, 'ffk_watch') ~= nil"))[0] === true);
    try {
      // Quiet since the watcher started: the wait ends at its first look, the quiet time is the watcher's.
      await admin.watchWrites(60_000);
      await withClient(s.port, (c) => seed(c, 'ffsec_face_objects', [901]));
      await untilWatcherSaysQuiet();
      const atOnce = await admin.quiet(settleMs, 10_000);
      expect(atOnce).toMatchObject({ settled: true, watched: true });
      // The quiet time began before the call (not a duration against a fixed number: a busy machine may be slow).
      expect(atOnce.quietMs).toBeGreaterThan(atOnce.waitedMs);
      expect(atOnce.quietMs).toBeGreaterThanOrEqual(settleMs);
      expect(await watching()).toBe(false); // taken over by the wait

      // Without a watcher, the same quiet shard is waited for a whole settle time from the call.
      const fresh = await admin.quiet(settleMs, 10_000);
      expect(fresh).toMatchObject({ settled: true, watched: false });
      expect(fresh.waitedMs).toBeGreaterThanOrEqual(settleMs);

      // A write between prepare and freeze: its signature is what the freeze settles on.
      await admin.watchWrites(60_000);
      await withClient(s.port, (c) => seed(c, 'ffsec_face_objects', [902]));
      const [after] = await withClient(s.port, (c) => c.eval('return box.info.signature'));
      const settled = await admin.quiet(settleMs, 10_000);
      expect(settled).toMatchObject({ settled: true, watched: true, signature: after });
      expect(settled.quietMs).toBeGreaterThanOrEqual(settleMs);

      // Asked to, the wait starts the cut's checkpoint in the same call once settled: the checkpoint of that signature.
      const withCut = await admin.quiet(settleMs, 10_000, { token: 'watch-test', waitBusyMs: 2_000 });
      expect(withCut).toMatchObject({ settled: true, checkpoint: { signature: after } });
      expect(await admin.checkpointOutcome('watch-test', 30_000)).toMatchObject({ state: 'done', signature: after });

      // The driver starts the watcher at prepare and stops it when the cut is given up; one left running ends by itself.
      const d = createTarantoolDriver(s.config, { services: s.services, logger, timings: { freezeSettleMs: settleMs } });
      try {
        await d.prepare();
        expect(await watching()).toBe(true);
        await d.release();
        expect(await watching()).toBe(false);
      } finally {
        await d.close();
      }
      await admin.watchWrites(50);
      const deadline = Date.now() + 30_000;
      while (await watching()) {
        if (Date.now() > deadline) throw new Error('the write watcher did not end after its 50 ms');
        await new Promise((r) => setTimeout(r, 20));
      }
    } finally {
      await admin.close();
    }
  });

  it('pins the cut\'s own checkpoint when an automatic checkpoint ran between cut and upload', async () => {
    const { shard: s, driver: d } = await setUp();
    const cut = await takeCut(d);
    const atCut = await withClient(s.port, contentHash);
    await withClient(s.port, async (c) => {
      await seed(c, 'ffsec_user_face', [42]);
      await c.eval(AUTO_CHECKPOINT); // what checkpoint_interval would do
    });
    const artifact = await d.upload(uploadCtx('c2'));
    expect(artifact.details?.newerCheckpointsAtPin).toBe(1);
    expect(cut.kind === 'tarantool' && String(artifact.details?.snapFile).endsWith(`${String(cut.signature).padStart(20, '0')}.snap`)).toBe(true);
    await d.restore(restoreCtx(artifact, 'r2'));
    expect(await withClient(s.port, contentHash)).toEqual(atCut);
  });

  it('fails clearly when the cut\'s checkpoint was rotated out, and releases the pin', async () => {
    const { shard: s, driver: d } = await setUp();
    const cut = await takeCut(d);
    await withClient(s.port, async (c) => {
      for (const id of [50, 51]) {
        await seed(c, 'ffsec_user_face', [id]);
        await c.eval(AUTO_CHECKPOINT);
      }
    });
    const signature = cut.kind === 'tarantool' ? cut.signature : -1;
    const upload = d.upload(uploadCtx('c3'));
    await expect(upload).rejects.toThrow(NotFoundError);
    await expect(upload).rejects.toThrow(`tarantool:shard-001: checkpoint ${signature} of the cut is no longer kept by the shard`);
    expect(await pinned(s)).toBe(0);
    expect(await repo.listSnapshots({ tags: [cutTag('c3')] })).toEqual([]);
  });

  it('releases a pin left by a crashed agent at start, and refuses to prepare while one is held', async () => {
    const { shard: s, driver: d } = await setUp();
    const sig = await withClient(s.port, async (c) => {
      await c.eval('box.snapshot() box.backup.start()'); // the crashed agent's pin
      return (await c.eval('return box.info.gc().checkpoints[#box.info.gc().checkpoints].signature'))[0] as number;
    });
    expect(await pinned(s)).toBe(1);
    await expect(d.prepare()).rejects.toThrow(ConflictError);
    await expect(d.prepare()).rejects.toThrow('tarantool:shard-001: a checkpoint is pinned by box.backup.start()');
    expect(await d.releaseStalePins()).toEqual({ released: [sig] });
    expect(await pinned(s)).toBe(0);
    expect(await d.releaseStalePins()).toEqual({ released: [] });
    await d.prepare();
  });

  it('a restore whose unit stop fails stops there, names the step, and leaves the shard as it was', async () => {
    const { shard: s, driver: d } = await setUp();
    await takeCut(d);
    const artifact = await d.upload(uploadCtx('c4'));
    await withClient(s.port, (c) => seed(c, 'ffsec_persons', [1, 2]));
    const before = await withClient(s.port, contentHash);
    const files = s.listing();
    s.refuseStop(true);
    const restore = d.restore(restoreCtx(artifact, 'r4'));
    await expect(restore).rejects.toThrow(ShardRestoreError);
    const err = (await restore.catch((e: unknown) => e)) as ShardRestoreError;
    expect(err.step).toBe('stop-unit');
    expect(err.message).toContain("restore of tarantool:shard-001 failed at step 'stop-unit': systemctl stop tarantool@shard-001 failed");
    expect(err.message).toContain('shard left as it was');
    expect(err.report.steps.map((x) => [x.step, x.ok])).toEqual([
      ['check-artifact', true],
      ['inspect', true],
      ['check-space', true],
      ['fetch', true],
      ['stop-unit', false],
      ['rollback:confirm', true],
    ]);
    expect(await withClient(s.port, contentHash)).toEqual(before);
    expect(s.listing()).toEqual(files);
    expect(readdirSync(path.join(s.root, 'shard')).filter((e) => e.includes('ffk-'))).toEqual([]);
  });

  it('a restore whose unit start fails puts the previous files back and starts the shard again', async () => {
    const { shard: s, driver: d } = await setUp();
    await takeCut(d);
    const artifact = await d.upload(uploadCtx('c5'));
    await withClient(s.port, (c) => seed(c, 'ffsec_persons', [3, 4]));
    const before = await withClient(s.port, contentHash);
    s.refuseNextStart();
    const err = (await d.restore(restoreCtx(artifact, 'r5')).catch((e: unknown) => e)) as ShardRestoreError;
    expect(err).toBeInstanceOf(ShardRestoreError);
    expect(err.step).toBe('start-unit');
    expect(err.rolledBack).toBe(true);
    expect(err.message).toContain('previous files put back, shard left as it was');
    expect(err.report.steps.filter((x) => x.step.startsWith('rollback:')).map((x) => [x.step, x.ok])).toEqual([
      ['rollback:stop-unit', true],
      ['rollback:put-back', true],
      ['rollback:start-unit', true],
      ['rollback:confirm', true],
    ]);
    expect(await withClient(s.port, contentHash)).toEqual(before);
    expect(readdirSync(path.join(s.root, 'shard')).filter((e) => e.includes('ffk-'))).toEqual([]);
  });

  it('a wrong repository password is a clear error and changes nothing on the shard', async () => {
    const { shard: s, driver: d } = await setUp();
    await takeCut(d);
    const artifact = await d.upload(uploadCtx('c6'));
    const wrong = new ResticRepository({ url: path.join(repoRoot, 'repo'), password: 'not the password' });
    await takeCut(d);
    await expect(d.upload(uploadCtx('c6b', wrong))).rejects.toThrow(RepositoryWrongPasswordError);
    expect(await pinned(s)).toBe(0);
    const before = await withClient(s.port, contentHash);
    const err = (await d.restore(restoreCtx(artifact, 'r6', wrong)).catch((e: unknown) => e)) as ShardRestoreError;
    expect(err).toBeInstanceOf(ShardRestoreError);
    expect(err.step).toBe('fetch');
    expect(err.message).toContain(`failed at step 'fetch': wrong password for repository ${path.join(repoRoot, 'repo')}`);
    expect(err.message).toContain('nothing on the shard was changed');
    expect(await withClient(s.port, contentHash)).toEqual(before);
    expect(await s.services.isActive(s.unit)).toBe(true);
  });

  it('restores into a target directory for a sandbox instance without touching the live shard', async () => {
    const { shard: s, driver: d } = await setUp({ vinyl: true });
    await takeCut(d);
    const artifact = await d.upload(uploadCtx('c7'));
    const target = mkdtempSync(path.join(os.tmpdir(), 'ffk-tnt-target-'));
    try {
      const report = await d.restore({ ...restoreCtx(artifact, 'r7'), targetDir: target });
      expect(report.steps.map((x) => x.step)).toEqual(['check-artifact', 'fetch', 'place']);
      const memtx = readdirSync(path.join(target, 'memtx'));
      expect(memtx).toEqual([path.basename(String(artifact.details?.snapFile))]);
      expect(readdirSync(path.join(target, 'vinyl')).some((f) => f.endsWith('.vylog'))).toBe(true);
      expect(readdirSync(target).sort()).toEqual(['memtx', 'vinyl']);
      expect(await s.services.isActive(s.unit)).toBe(true);
    } finally {
      rmSync(target, { recursive: true, force: true });
    }
  });
});
