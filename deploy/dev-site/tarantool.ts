/**
 * The site's Tarantool shards as processes: each unit `tarantool@<name>` runs `tarantool` on its
 * instance file (`<siteDir>/etc/tarantool/instances.enabled/<name>.lua`, see instances.ts) in the
 * background, read afresh at every start (an edited `listen` or dir applies at the next start); ready
 * once `FindFace.start` has set up the galleries; stopped with SIGTERM.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { UnavailableError } from '../../shared/errors.js';
import { TarantoolClient } from '../../shared/tarantool/iproto.js';
import { shardFromInstanceFile } from './instances.js';
import { spawnDetached, stopUnitProcess, tailOf, unitPid } from './procs.js';
import type { ShardState, SiteState } from './state.js';

const TARANTOOL_BIN = process.env.FFK_TARANTOOL_BIN ?? 'tarantool';
/** How long a starting shard may take to load its snapshot and set up galleries. */
const READY_TIMEOUT_MS = 120_000;

/** Starts the shard unit `name` from its instance file (see `startShard`). */
export async function startShardUnit(state: SiteState, name: string): Promise<number> {
  return startShard(state, shardFromInstanceFile(state, name));
}

/** Starts a shard unless it runs; resolves once it listens and its galleries are set up. */
export async function startShard(state: SiteState, shard: ShardState): Promise<number> {
  const running = unitPid(state.runDir, state.siteDir, shard.unit);
  if (running !== undefined) return running;
  if (!existsSync(shard.dir)) {
    throw new UnavailableError(`dev site '${state.site}': ${shard.name} cannot start: its work_dir ${shard.dir} does not exist (${shard.instanceFile})`);
  }
  const logFile = path.join(shard.dir, 'tarantool.out');
  const pid = spawnDetached({
    unit: shard.unit,
    runDir: state.runDir,
    command: TARANTOOL_BIN,
    args: [shard.instanceFile],
    cwd: shard.dir,
    logFile,
  });
  try {
    await waitShardReady(state, shard);
  } catch (err) {
    await stopShard(state, shard);
    const log = tailOf(logFile);
    throw new UnavailableError(`dev site '${state.site}': ${shard.name} did not start on port ${shard.port}:\n${log}`, { cause: err });
  }
  return pid;
}

/** Ready when the unit's own process answers on the port (not another one holding it: its own fails to bind and exits). */
async function waitShardReady(state: SiteState, shard: ShardState): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    const pid = unitPid(state.runDir, state.siteDir, shard.unit);
    if (pid === undefined) throw new UnavailableError(`${shard.name} exited`);
    const client = await TarantoolClient.connect({ port: shard.port, timeoutMs: 5_000 }).catch(() => undefined);
    const ready = client ? await client.eval("return rawget(_G, 'ffk_ready') == true, box.info.pid").catch(() => [false]) : [false];
    client?.close();
    if (ready[0] === true && ready[1] === pid) return;
    if (Date.now() > deadline) throw new UnavailableError(`${shard.name} not ready after ${READY_TIMEOUT_MS} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Stops a shard (SIGTERM, SIGKILL after the grace period). */
export async function stopShard(state: SiteState, shard: Pick<ShardState, 'unit'>): Promise<boolean> {
  return stopUnitProcess(state.runDir, state.siteDir, shard.unit, { signal: 'SIGTERM', graceMs: 15_000 });
}
