/**
 * A verify drill's Tarantool sandbox: the cut's checkpoint files fetched and placed into the sandbox's
 * directory (`<dir>/data/memtx`, `<dir>/data/vinyl`, as a restore into a target directory does), then a
 * scratch instance started from them on a free port — read-only, WAL off, nothing of the live shard
 * touched — and confirmed to have recovered exactly the cut's checkpoint (signature and vclock). The
 * instance runs until the sandbox is dropped; its pid file lives in the sandbox directory, so a drop after
 * an agent restart still finds it.
 */
import path from 'node:path';
import { ValidationError } from '../../../../shared/errors.js';
import { RestoreStepFailedError, StepFailure, StepRunner } from '../postgres/steps.js';
import type { SandboxRestoreContext, SandboxRestoreReport } from '../types.js';
import { formatVclock } from './checkpoint-files.js';
import type { ShardAdmin } from './ports.js';
import { confirmCheckpoint, restoreShard, type ShardRestoreDeps } from './restore.js';
import type { TarantoolCut } from './upload.js';

/** What a scratch instance starts from (see `ScratchInstances.start`). */
export interface ScratchStartRequest {
  dir: string;
  dirs: { memtx: string; vinyl: string; wal: string };
  initLua?: string;
  writable?: boolean;
  memtxBytes?: number;
}

/** Scratch Tarantool instances of this host (the adapter spawns `tarantool`). */
export interface ScratchInstances {
  /**
   * Starts a read-only instance from the data files in `dirs` on a free port of this host, its pid file
   * and log in `dir`, running `initLua` after `box.cfg` when given; resolves once it listens, with an
   * admin connection to it (the caller closes it). `writable`: accepts writes, logged to its WAL, so that a
   * `box.snapshot()` writes a new checkpoint (a snapshot import); `memtxBytes`: at least this much memory.
   */
  start(request: ScratchStartRequest): Promise<{ host: string; port: number; admin: ShardAdmin }>;
  /** Stops the instance whose pid file is in `dir` (SIGTERM, SIGKILL after a grace period); false when none ran. */
  stop(dir: string): Promise<boolean>;
}

export interface ShardSandboxDeps {
  /** The restore's own deps: the files side and the timings are what the sandbox uses. */
  restore: ShardRestoreDeps;
  /** The shard's name (`shard-001`), as the integrity check knows it. */
  name: string;
  scratch: ScratchInstances;
  initLua?: string;
}

/** Places the checkpoint files, starts the scratch instance and confirms the cut; throws naming the failed step. */
export async function restoreShardSandbox(deps: ShardSandboxDeps, ctx: SandboxRestoreContext): Promise<SandboxRestoreReport> {
  const ref = deps.restore.ref;
  const data = path.join(ctx.dir, 'data');
  const files = await restoreShard(deps.restore, { ...ctx, targetDir: data });
  const runner = new StepRunner({
    component: ref,
    logger: ctx.logger,
    ...(ctx.onProgress ? { onProgress: ctx.onProgress } : {}),
    ...(ctx.signal ? { signal: ctx.signal } : {}),
  });
  const cut = ctx.artifact.cut as TarantoolCut;
  let admin: ShardAdmin | undefined;
  try {
    const started = await runner.run(
      'start scratch instance',
      async () => {
        await ctx.record({ kind: 'instance', component: ref, dir: ctx.dir });
        const dirs = { memtx: path.join(data, 'memtx'), vinyl: path.join(data, 'vinyl'), wal: path.join(data, 'wal') };
        return deps.scratch.start({ dir: ctx.dir, dirs, ...(deps.initLua ? { initLua: deps.initLua } : {}) });
      },
      (s) => `read-only tarantool on ${s.host}:${s.port}`,
    );
    admin = started.admin;
    const running = started.admin;
    await runner.run(
      'confirm-vclock',
      () => confirmCheckpoint({ ref, admin: running, startTimeoutMs: deps.restore.startTimeoutMs }, cut),
      (info) => `signature ${info.signature}, vclock ${formatVclock(info.vclock)}`,
    );
    return {
      component: ref,
      steps: [...files.steps, ...runner.report().steps],
      endpoint: { kind: 'tarantool', component: ref, name: deps.name, host: started.host, port: started.port },
    };
  } catch (err) {
    if (!(err instanceof StepFailure)) throw err;
    throw new RestoreStepFailedError({
      report: { component: ref, steps: [...files.steps, ...runner.report().steps] },
      step: err.step,
      siteChanged: false,
      outcome: 'the live shard was not touched; the scratch instance goes with the sandbox',
      cause: err.error,
    });
  } finally {
    await admin?.close().catch(() => undefined);
  }
}

/** Stops a sandbox's scratch instance; nothing when it is gone already. */
export async function releaseShardSandbox(scratch: ScratchInstances, ref: string, dir: string): Promise<string> {
  if (!path.isAbsolute(dir)) throw new ValidationError(`${ref}: sandbox instance directory '${dir}' is not absolute`, { field: 'resource.dir' });
  const stopped = await scratch.stop(dir);
  return stopped ? `scratch tarantool of ${ref} stopped` : `scratch tarantool of ${ref} was not running`;
}
