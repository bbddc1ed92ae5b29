/**
 * Unit tests of the Tarantool driver's domain logic with in-memory fakes of its ports: the restore's
 * step sequence and rollback after a failure at each step, and the upload's checkpoint checks.
 */
import { describe, expect, it } from 'vitest';
import { ConflictError, IllegalStateError, NotFoundError, TimeoutError } from '../../../../shared/errors.js';
import { silentLogger } from '../../../../shared/logger.js';
import type { ComponentArtifact } from '../types.js';
import { TarantoolShardDriver } from './driver.js';
import { ShardRestoreError } from './errors.js';
import { FakeShard, fakeRepository, snapName, type FaultPoint } from './fakes.test-support.js';

const logger = silentLogger();

function driverOn(shard: FakeShard, timings = {}): TarantoolShardDriver {
  return new TarantoolShardDriver(
    { name: 'shard-001', unit: 'tarantool@shard-001', memtxDir: '/data/memtx', walDir: '/data/wal', vinylDir: '/data/vinyl' },
    { admin: shard, files: shard, services: shard, logger, realpath: async (d) => d, timings: { freezeSettleMs: 5, ...timings } },
  );
}

function artifactAt(signature: number): ComponentArtifact {
  return {
    component: 'tarantool:shard-001',
    kind: 'tarantool',
    cut: { kind: 'tarantool', component: 'tarantool:shard-001', time: new Date(), vclock: { '1': signature }, signature },
    snapshotIds: ['b'.repeat(64)],
    bytes: 10,
    files: 2,
    dataAddedBytes: 5,
    details: { memtxDir: '/data/memtx', vinylDir: '/data/vinyl' },
  };
}

async function restoreWith(fault?: FaultPoint): Promise<{ shard: FakeShard; error: ShardRestoreError | undefined; steps: string[] }> {
  const shard = new FakeShard();
  if (fault) shard.faults.arm(fault);
  const driver = driverOn(shard);
  const ctx = { jobId: 'job-1', artifact: artifactAt(90), repository: fakeRepository(shard, 90), logger };
  try {
    const report = await driver.restore(ctx);
    return { shard, error: undefined, steps: report.steps.map((s) => `${s.step}${s.ok ? '' : '!'}`) };
  } catch (err) {
    if (!(err instanceof ShardRestoreError)) throw err;
    return { shard, error: err, steps: err.report.steps.map((s) => `${s.step}${s.ok ? '' : '!'}`) };
  }
}

const HAPPY = ['check-artifact', 'inspect', 'check-space', 'fetch', 'stop-unit', 'move-aside', 'place', 'start-unit', 'confirm-vclock', 'discard-aside', 'remove-staging'];
const FULL_ROLLBACK = ['rollback:stop-unit', 'rollback:put-back', 'rollback:start-unit', 'rollback:confirm'];

describe('tarantool restore: steps and rollback', () => {
  it('runs every step in order and ends on the cut\'s checkpoint', async () => {
    const { shard, error, steps } = await restoreWith();
    expect(error).toBeUndefined();
    expect(steps).toEqual(HAPPY);
    expect(shard.liveSnap).toBe(90);
    expect(shard.active).toBe(true);
    expect(shard.log).toContain(`place /data/memtx/${snapName(90)},/data/vinyl/00000000000000000000.vylog`);
  });

  it.each<[FaultPoint, string, string[], string]>([
    ['repository.restore', 'fetch', [], 'nothing on the shard was changed'],
    ['services.stop', 'stop-unit', ['rollback:confirm'], 'shard left as it was'],
    ['admin.answersAfterStop', 'stop-unit', ['rollback:start-unit', 'rollback:confirm'], 'shard left as it was'],
    ['files.moveAside', 'move-aside', ['rollback:start-unit', 'rollback:confirm'], 'shard left as it was'],
    ['files.place', 'place', FULL_ROLLBACK, 'previous files put back, shard left as it was'],
    ['services.start', 'start-unit', FULL_ROLLBACK, 'previous files put back, shard left as it was'],
    ['admin.recoversWrongCheckpoint', 'confirm-vclock', FULL_ROLLBACK, 'previous files put back, shard left as it was'],
  ])('a failure of %s stops at step %s and rolls back', async (fault, step, rollback, summary) => {
    const { shard, error, steps } = await restoreWith(fault);
    expect(error).toBeInstanceOf(ShardRestoreError);
    expect(error?.step).toBe(step);
    expect(error?.message).toMatch(new RegExp(`^restore of tarantool:shard-001 failed at step '${step}': .*; ${summary}$`));
    expect(error?.rolledBack).toBe(true);
    const failedAt = HAPPY.indexOf(step);
    expect(steps).toEqual([...HAPPY.slice(0, failedAt), `${step}!`, ...rollback]);
    expect(shard.liveSnap).toBe(100);
    expect(shard.active).toBe(true);
    expect(shard.log.filter((l) => l === 'discard')).toEqual([]);
  });

  it("refuses to stage when the data directory's filesystem has less room than the snapshot, before fetching or stopping anything", async () => {
    const shard = new FakeShard();
    shard.free = 9;
    const err = (await driverOn(shard)
      .restore({ jobId: 'j', artifact: artifactAt(90), repository: fakeRepository(shard, 90), logger })
      .catch((e: unknown) => e)) as ShardRestoreError;
    expect(err.step).toBe('check-space');
    expect(err.code).toBe('ILLEGAL_STATE');
    expect(err.message).toContain("not enough free space to stage tarantool:shard-001 beside /data/memtx: the snapshot's copy needs 10 B, the filesystem has 9 B free");
    expect(err.message).toContain('nothing on the shard was changed');
    expect(err.report.steps.map((x) => `${x.step}${x.ok ? '' : '!'}`)).toEqual(['check-artifact', 'inspect', 'check-space!']);
    expect(shard.log.some((l) => l.startsWith('stop'))).toBe(false);
  });

  it('says so, loudly, when the rollback itself fails', async () => {
    const shard = new FakeShard();
    shard.faults.arm('files.place');
    shard.faults.arm('files.putBack');
    const err = (await driverOn(shard)
      .restore({ jobId: 'j', artifact: artifactAt(90), repository: fakeRepository(shard, 90), logger })
      .catch((e: unknown) => e)) as ShardRestoreError;
    expect(err.step).toBe('place');
    expect(err.rolledBack).toBe(false);
    expect(err.message).toContain("ROLLBACK FAILED at 'rollback:put-back' (injected failure of files.putBack): check tarantool@shard-001 by hand");
  });

  it('reports but does not undo a confirmed restore whose old files cannot be deleted', async () => {
    const { error, steps, shard } = await restoreWith('files.discard');
    expect(error).toBeUndefined();
    expect(steps).toEqual([...HAPPY.slice(0, -2), 'discard-aside!', 'remove-staging']);
    expect(shard.liveSnap).toBe(90);
  });

  it('refuses an artifact whose snapshot holds another checkpoint, before touching the shard', async () => {
    const shard = new FakeShard();
    const err = (await driverOn(shard)
      .restore({ jobId: 'j', artifact: artifactAt(90), repository: fakeRepository(shard, 95), logger })
      .catch((e: unknown) => e)) as ShardRestoreError;
    expect(err.step).toBe('fetch');
    expect(err.message).toContain('does not hold exactly the .snap of checkpoint 90');
    expect(shard.log.some((l) => l.startsWith('stop'))).toBe(false);
  });

  it('a restore cancelled while fetching stops before the unit is touched', async () => {
    const shard = new FakeShard();
    const abort = new AbortController();
    const inner = fakeRepository(shard, 90);
    const repository = { ...inner, restore: async (...args: Parameters<typeof inner.restore>) => { abort.abort(); return inner.restore(...args); } };
    const err = (await driverOn(shard)
      .restore({ jobId: 'j', artifact: artifactAt(90), repository, logger, signal: abort.signal })
      .catch((e: unknown) => e)) as ShardRestoreError;
    expect(err.step).toBe('stop-unit');
    expect(err.code).toBe('CANCELLED');
    expect(err.message).toContain("restore of tarantool:shard-001 was cancelled before step 'stop-unit'");
    expect(shard.log.some((l) => l.startsWith('stop') || l.startsWith('start'))).toBe(false);
  });

  it('refuses an artifact of another kind', async () => {
    const shard = new FakeShard();
    const artifact: ComponentArtifact = { ...artifactAt(90), kind: 'uploads', cut: { kind: 'uploads', component: 'uploads:u', time: new Date() } };
    const err = (await driverOn(shard).restore({ jobId: 'j', artifact, repository: fakeRepository(shard, 90), logger }).catch((e: unknown) => e)) as ShardRestoreError;
    expect(err.step).toBe('check-artifact');
    expect(err.code).toBe('VALIDATION');
    expect(err.message).toContain('is a uploads artifact, not a tarantool one');
  });
});

function uploadCtx(shard: FakeShard) {
  return { jobId: 'j', tags: { site: 's', cutId: 'c', component: 'tarantool:shard-001' }, repository: fakeRepository(shard, 0), logger };
}

describe('tarantool upload', () => {
  it('backs up the pinned files of the cut\'s checkpoint and always unpins', async () => {
    const shard = new FakeShard();
    const d = driverOn(shard);
    const cut = await d.cut();
    const artifact = await d.upload(uploadCtx(shard));
    expect(artifact).toMatchObject({ component: 'tarantool:shard-001', kind: 'tarantool', cut, snapshotIds: ['a'.repeat(64)], files: 2 });
    expect(artifact.details).toMatchObject({ snapFile: `/data/memtx/${snapName(100)}`, memtxDir: '/data/memtx', newerCheckpointsAtPin: 0 });
    expect(shard.log).toEqual([`pin 100`, `backup /data/memtx/${snapName(100)},/data/vinyl/00000000000000000000.vylog`, 'unpin']);
    await expect(d.upload(uploadCtx(shard))).rejects.toThrow('tarantool:shard-001: upload without a cut (call cut() first)');
  });

  it('unpins when the repository fails', async () => {
    const shard = new FakeShard();
    shard.faults.arm('repository.backupFiles');
    const d = driverOn(shard);
    await d.cut();
    await expect(d.upload(uploadCtx(shard))).rejects.toThrow('injected failure of repository.backupFiles');
    expect(shard.log.at(-1)).toBe('unpin');
    expect(shard.kept.every((c) => !c.pinned)).toBe(true);
  });

  it('pins by index when newer checkpoints exist, and fails naming the signature when it is gone', async () => {
    const shard = new FakeShard();
    shard.signature = 120;
    const d = driverOn(shard);
    await d.cut();
    shard.kept.push({ signature: 130, vclock: { '1': 130 }, pinned: false });
    expect((await d.upload(uploadCtx(shard))).details?.newerCheckpointsAtPin).toBe(1);
    await d.cut();
    shard.kept = [{ signature: 130, vclock: { '1': 130 }, pinned: false }];
    const gone = d.upload(uploadCtx(shard));
    await expect(gone).rejects.toThrow(NotFoundError);
    await expect(gone).rejects.toThrow('checkpoint 120 of the cut is no longer kept by the shard (kept: 130)');
  });

  it('fails when writes reached the shard during the cut', async () => {
    const shard = new FakeShard();
    const d = driverOn(shard);
    await d.cut();
    shard.outcome = { state: 'done', signature: 103, vclock: { '1': 103 } };
    await expect(d.upload(uploadCtx(shard))).rejects.toThrow(
      'the cut\'s checkpoint has signature 103 but the shard was at 100 when the cut was taken: 3 write(s) reached the shard during the cut',
    );
    expect(shard.log.some((l) => l.startsWith('pin'))).toBe(false);
  });

  it('reports a failed box.snapshot()', async () => {
    const shard = new FakeShard();
    const d = driverOn(shard);
    await d.cut();
    shard.outcome = { state: 'failed', message: 'Failed to write file: No space left on device' };
    const run = d.upload(uploadCtx(shard));
    await expect(run).rejects.toThrow(IllegalStateError);
    await expect(run).rejects.toThrow('box.snapshot() started by the cut failed: Failed to write file: No space left on device');
  });
});

describe('tarantool freeze, prepare, stale pins', () => {
  it('freeze returns once the signature is stable, and times out naming the shard when it keeps moving', async () => {
    const shard = new FakeShard();
    await driverOn(shard).freeze();
    const moving = setInterval(() => (shard.signature += 1), 1);
    try {
      const run = driverOn(shard, { freezeSettleMs: 50, freezeTimeoutMs: 200 }).freeze();
      await expect(run).rejects.toThrow(TimeoutError);
      await expect(run).rejects.toThrow('tarantool:shard-001: writes did not stop within 200 ms');
    } finally {
      clearInterval(moving);
    }
  });

  it('prepare starts the shard\'s write watcher; freeze counts the quiet time it saw and takes it over; release stops one a freeze never came for', async () => {
    const shard = new FakeShard();
    const d = driverOn(shard, { freezeSettleMs: 40 });
    await d.prepare();
    expect(shard.watching).toBe(true);
    await new Promise((r) => setTimeout(r, 60)); // quiet for longer than the settle time before the freeze
    await d.freeze({ cutFollows: true });
    // The quiet time began before the call (the watcher saw it), so it is longer than the freeze's own wait.
    expect(shard.lastQuiet).toMatchObject({ settled: true, watched: true });
    expect(shard.lastQuiet?.quietMs).toBeGreaterThan(shard.lastQuiet?.waitedMs ?? Infinity);
    expect(shard.watching).toBe(false);
    // The checkpoint started in the freeze's own call is the cut: cut() starts no other.
    const cut = await d.cut();
    expect(shard.checkpointsStarted).toBe(1);
    expect(cut).toMatchObject({ kind: 'tarantool', signature: shard.lastQuiet?.checkpoint?.signature });
    await d.thaw();
    await d.release();

    await d.prepare();
    const written = Date.now();
    shard.signature += 1; // a write between prepare and freeze: the settle counts from it
    await d.freeze();
    expect(Date.now() - written).toBeGreaterThanOrEqual(40);
    expect(shard.lastQuiet).toMatchObject({ settled: true, watched: true, signature: shard.signature });
    expect(shard.lastQuiet?.checkpoint).toBeUndefined(); // a freeze without cutFollows starts none
    await d.cut();
    expect(shard.checkpointsStarted).toBe(2);
    await d.prepare();
    expect(shard.watching).toBe(true);
    await d.release();
    expect(shard.watching).toBe(false);
    expect(shard.watchesStarted).toBe(3);
  });

  it('prepare refuses a pinned shard and a directory mismatch; releaseStalePins unpins', async () => {
    const shard = new FakeShard();
    (shard.kept[0] as { pinned: boolean }).pinned = true;
    const d = driverOn(shard);
    await expect(d.prepare()).rejects.toThrow(ConflictError);
    expect(await d.releaseStalePins()).toEqual({ released: [100] });
    await d.prepare();
    const other = new TarantoolShardDriver(
      { name: 'shard-001', unit: 'u', memtxDir: '/elsewhere', walDir: '/data/wal' },
      { admin: shard, files: shard, services: shard, logger, realpath: async (x) => x },
    );
    await expect(other.prepare()).rejects.toThrow('tarantool:shard-001: memtxDir is /elsewhere but the shard uses /data/memtx');
  });
});
