/**
 * Issue 13 acceptance on real processes (agents, controller, restic, PostgreSQL, Tarantool, pgbouncer),
 * the site's writer (its findface-security unit) running throughout:
 * - a snapshot whose PostgreSQL dump sits in a damaged pack fails in the stage: exit 8 naming the
 *   component, the writer never stopped (same pid, still writing), nothing staged left, 0 integrity errors;
 * - a shard failing to start in the switch: the database, the other shard and the upload directories
 *   switched meanwhile are put back (the database renamed back); the writers run again; 0 integrity errors
 *   and the live database is the one from before the restore;
 * - the agent of the shards killed during the switch (a shard moved aside and its unit starting): the
 *   controller rolls back the other hosts, waits for the agent to come back, and the restarted agent rolls
 *   its shards back from its restore journal; the site is as it was, 0 integrity errors, nothing left;
 * - an intact restore stages every component while the writer keeps writing, then switches; the downtime
 *   (writers stopped) is printed with the restore's duration and 0 integrity errors.
 */
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GrpcControllerApi } from '../../controller/cli/api.js';
import { checkSiteState } from '../../deploy/dev-site/checker.js';
import { readWriterStats, setUnitFault, startWriter, stopWriter } from '../../deploy/dev-site/index.js';
import { unitPid } from '../../deploy/dev-site/procs.js';
import type { SiteState } from '../../deploy/dev-site/state.js';
import { EXIT_CODES } from '../../shared/exit-codes.js';
import { decodeManifest } from '../../shared/manifest-codec.js';
import { ResticRepository } from '../../shared/repository/restic.js';
import { startFleet, type TestFleet } from '../harness/fleet.js';
import { waitFor, type CliResult } from '../harness/processes.js';
import { operatorSecurity } from '../harness/pki.js';

const SITE = 'rst-1';
const MARKER = 'ffk_test_after_s1';

interface Snap {
  id: string;
}

function packs(repoDir: string): Map<string, number> {
  const dir = path.join(repoDir, 'data');
  const files = readdirSync(dir, { recursive: true, encoding: 'utf8' }).map((p) => path.join(dir, p)).filter((p) => statSync(p).isFile());
  return new Map(files.map((f) => [f, statSync(f).size]));
}

/** Flips 64 bytes in the middle of a pack file. */
function corrupt(pack: string): void {
  const bytes = readFileSync(pack);
  const at = Math.floor(bytes.length / 2);
  for (let i = at; i < Math.min(bytes.length, at + 64); i += 1) bytes[i] = (bytes[i] as number) ^ 0xff;
  writeFileSync(pack, bytes);
}

async function sql<T extends pg.QueryResultRow>(state: SiteState, database: string, text: string): Promise<T[]> {
  const c = new pg.Client({ host: state.postgres.host, port: state.postgres.port, user: state.postgres.superuser, database });
  await c.connect();
  try {
    return (await c.query<T>(text)).rows;
  } finally {
    await c.end();
  }
}

/** The pids of a process's children, from /proc (none when it has none or is gone). */
function childrenOf(pid: number | undefined): number[] {
  if (pid === undefined) return [];
  const out: number[] = [];
  for (const name of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    try {
      // pid (comm) state ppid ...: comm may hold spaces and parentheses, so read after the last ')'.
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(name));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

/**
 * Stops a process (SIGSTOP) and waits until every thread of it is stopped: a spawn it was making when the
 * signal came has then ended, and it makes no other.
 */
async function freeze(pid: number): Promise<void> {
  process.kill(pid, 'SIGSTOP');
  const stateOf = (stat: string): string => stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  const stopped = (): boolean => {
    if (!existsSync(`/proc/${pid}/task`)) return true; // it ended
    return readdirSync(`/proc/${pid}/task`).every((tid) => {
      try {
        return ['T', 't'].includes(stateOf(readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8')));
      } catch {
        return true; // the thread ended
      }
    });
  };
  await waitFor(async () => (stopped() ? true : undefined), 10_000, 5);
}

/** Databases and directories a restore stages or moves aside; none may be left after it ended. */
async function leftovers(state: SiteState): Promise<string[]> {
  const dbs = (await sql<{ datname: string }>(state, 'postgres', 'SELECT datname FROM pg_database')).filter((d) => d.datname.startsWith(`${state.postgres.database}_ffk_`));
  const dirs = [state.uploads.uploadsDir, state.uploads.ffuploadDir].flatMap((d) => readdirSync(d).filter((n) => n.startsWith('.ffk-') && n !== '.ffk-shield').map((n) => path.join(d, n)));
  // A shard's staging and aside directories sit beside its data directories.
  const shardDirs = [...new Set(state.shards.flatMap((s) => [s.memtxDir, s.walDir, s.vinylDir].map((d) => path.dirname(d))))];
  const beside = shardDirs.flatMap((d) => readdirSync(d).filter((n) => n.includes('.ffk-')).map((n) => path.join(d, n)));
  return [...dbs.map((d) => `database ${d.datname}`), ...dirs, ...beside];
}

/**
 * After a failed restore: nothing staged or moved aside is left, the writer's errors are printed, the site
 * checks with 0 integrity errors, and its live database is the one from before the restore (S1 has no
 * MARKER table).
 */
async function expectUnchanged(state: SiteState): Promise<void> {
  expect(await leftovers(state)).toEqual([]);
  const stats = await stopWriter(state);
  const check = await checkSiteState(state);
  console.log(`writer: ${stats?.writes} writes, ${stats?.errors} errors; integrity: ${check.errors} errors`);
  expect(check.errors).toBe(0);
  expect(await sql(state, state.postgres.database, `SELECT note FROM ${MARKER}`)).toHaveLength(1);
}

describe('two-phase restore with the writer running', () => {
  let fleet: TestFleet;
  let state: SiteState;
  let s1 = '';
  let s2 = '';

  beforeAll(async () => {
    fleet = await startFleet([{ site: SITE, dossiers: 20, events: 60 }]);
    state = fleet.sites.get(SITE)!;
    // S1, then S2 that differs from it only in PostgreSQL (the writer is stopped in between), so the packs
    // S2 adds hold only its dump.
    await stopWriter(state);
    s1 = (await fleet.json<{ snapshot: Snap }>('snapshot', 'create', '--site', SITE, '--wait', '--json')).snapshot.id;
    await sql(state, state.postgres.database, `CREATE TABLE ${MARKER} (note text); INSERT INTO ${MARKER} VALUES ('written after S1')`);
    const before = packs(path.join(fleet.repositories.root, SITE));
    s2 = (await fleet.json<{ snapshot: Snap }>('snapshot', 'create', '--site', SITE, '--wait', '--json')).snapshot.id;
    const added = [...packs(path.join(fleet.repositories.root, SITE))].filter(([f]) => !before.has(f)).sort((a, b) => b[1] - a[1]);
    console.log(`S1 ${s1}, S2 ${s2}; S2 added ${added.length} pack(s): ${added.map(([f, n]) => `${path.basename(f)} ${n} B`).join(', ')}`);
    // The largest new pack holds the dump's data (the others hold trees).
    corrupt(added[0]![0]);
    await startWriter(state);
  }, 300_000);

  afterAll(async () => {
    await fleet?.stop();
  });

  it('a damaged pack in the PostgreSQL dump fails the stage: exit 8, the writer never stopped, nothing changed', async () => {
    const pid = unitPid(state.runDir, state.siteDir, 'findface-security');
    expect(pid).toBeDefined();
    const writesBefore = readWriterStats(state)?.writes ?? 0;
    const r = await fleet.cli('restore', '--site', SITE, '--snapshot', s2, '--no-safety-snapshot', '--yes');
    console.log(r.stderr.split('\n').filter((l) => /error|staging/.test(l)).join('\n'));
    expect(r.code, r.stderr).toBe(EXIT_CODES.ILLEGAL_STATE);
    expect(r.stderr).toMatch(/staging component 'postgres:[^']+' on host '[^']+' failed: /);
    expect(r.stderr).toContain(`nothing on site '${SITE}' was changed and its writers were never stopped`);
    expect(unitPid(state.runDir, state.siteDir, 'findface-security')).toBe(pid);
    await waitFor(async () => ((readWriterStats(state)?.writes ?? 0) > writesBefore ? true : undefined), 30_000);
    await expectUnchanged(state);
  }, 240_000);

  it('a shard failing to start in the switch puts back every component already switched: the site is as it was', async () => {
    await startWriter(state);
    const failing = state.shards[1]!;
    setUnitFault(state, failing.unit, { failStarts: 1 });
    try {
      const r = await fleet.cli('restore', '--site', SITE, '--snapshot', s1, '--no-safety-snapshot', '--yes');
      console.log(r.stderr.split('\n').filter((l) => /error|switch/.test(l)).join('\n'));
      expect(r.code, r.stderr).not.toBe(0);
      expect(r.stderr).toMatch(new RegExp(`switching in component 'tarantool:${failing.name}' on host '[^']+' failed: `));
      const back = /the components already switched were put back \(([^)]+)\)/.exec(r.stderr)?.[1]?.split(', ').sort();
      expect(back).toEqual(['postgres:ffsecurity', 'tarantool:shard-001', 'uploads:uploads']);
      expect(r.stderr).toContain(`site '${SITE}' is as it was before the restore`);
    } finally {
      setUnitFault(state, failing.unit, undefined);
    }
    expect(unitPid(state.runDir, state.siteDir, 'findface-security')).toBeDefined();
    await expectUnchanged(state);
  }, 240_000);

  it('an agent killed during the switch: the controller waits for it, its restore journal rolls its shards back, the site is as it was', async () => {
    await startWriter(state);
    const shard = state.shards[0]!;
    // The shard's start in the switch takes long: the agent is killed while it waits for it.
    setUnitFault(state, shard.unit, { startDelayMs: 20_000 });
    const api = new GrpcControllerApi(fleet.controllerAddress, 30_000, operatorSecurity());
    const agentsDir = path.join(state.siteDir, 'agents');
    const host = readdirSync(agentsDir).filter((f) => f.endsWith('.yaml')).find((f) => readFileSync(path.join(agentsDir, f), 'utf8').includes(shard.name))!.replace(/\.yaml$/, '');
    // The switch of the shard is under way once its data files are moved aside and the unit is down.
    let watching = true;
    const asidePrefix = `${path.basename(shard.memtxDir)}.ffk-aside-`;
    const killed = (async (): Promise<boolean> => {
      while (watching) {
        const aside = readdirSync(path.dirname(shard.memtxDir)).some((n) => n.startsWith(asidePrefix));
        if (aside && unitPid(state.runDir, state.siteDir, shard.unit) === undefined) {
          // As systemd kills a unit's whole control group, all of it at once: the agent and the systemctl
          // calls it waits on. It is frozen first, so that no systemctl call it starts while its children
          // are listed outlives it (one would start or stop a shard seconds later, in the middle of the
          // restarted agent's rollback).
          const agent = fleet.agents.get(`${SITE}/${host}`)!;
          await freeze(agent.child.pid!);
          const children = childrenOf(agent.child.pid);
          for (const pid of children) {
            try {
              process.kill(pid, 'SIGKILL');
            } catch {
              // gone already
            }
          }
          await agent.kill();
          console.log(`killed the agent on '${host}' and the ${children.length} process(es) it had started (${children.join(', ')})`);
          setUnitFault(state, shard.unit, undefined);
          return true;
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      return false;
    })();
    let restarted = false;
    const restart = (): void => {
      if (restarted) return;
      restarted = true;
      fleet.startAgent(SITE, host);
    };
    const events: string[] = [];
    try {
      const end = await api.restore({ site: SITE, selector: { kind: 'id', id: s1 }, components: [], noSafetySnapshot: true }, (e) => {
        const message = e.message ?? '';
        if (/^(switch|rollback|the agent on)/.test(message)) events.push(message);
        // Started again (as systemd would) once the controller has found it gone and waits for it.
        if (/^the agent on host '[^']+' does not answer/.test(message)) void killed.then(restart);
      });
      watching = false;
      console.log(`the switch and its rollback, as the job logged them:\n${events.join('\n')}`);
      expect(await killed, 'the agent was killed in the switch').toBe(true);
      expect(end.outcome?.phase).toBe('Failed');
      const error = end.outcome?.error?.message ?? '';
      expect(error).toMatch(new RegExp(`switching in component 'tarantool:shard-00\\d' on host '[^']+' failed: `));
      expect(error).toContain(`site '${SITE}' is as it was before the restore`);
      expect(error).toContain('the writers were started again');
      expect(events.some((m) => /^the agent on host '[^']+' does not answer/.test(m))).toBe(true);
      expect(events.some((m) => new RegExp(`^rollback tarantool:${shard.name} on '[^']+': rollback:find-aside ok`).test(m))).toBe(true);
    } finally {
      watching = false;
      setUnitFault(state, shard.unit, undefined);
      if (await killed) restart();
      api.close();
    }
    await waitFor(async () => (unitPid(state.runDir, state.siteDir, shard.unit) !== undefined ? true : undefined), 30_000);
    await expectUnchanged(state);
  }, 240_000);

  it('an intact restore holds the site lease (its safety snapshot inside it), stages everything while the writer writes, then switches with the writers stopped briefly', async () => {
    await startWriter(state);
    const api = new GrpcControllerApi(fleet.controllerAddress, 30_000, operatorSecurity());
    let atStaged: { pid: number | undefined; writes: number } | undefined;
    const writesAtStart = readWriterStats(state)?.writes ?? 0;
    try {
      const switchSteps: string[] = [];
      let snapshotMeanwhile: Promise<CliResult> | undefined;
      const end = await api.restore({ site: SITE, selector: { kind: 'id', id: s1 }, components: [], noSafetySnapshot: false }, (e) => {
        // The restore holds the site's lease for its whole run: a snapshot asked for meanwhile is refused.
        if (!snapshotMeanwhile && e.step === 'stage') snapshotMeanwhile = fleet.cli('snapshot', 'create', '--site', SITE);
        if (/^(switch |stop |start |stopped |started )/.test(e.message ?? '')) switchSteps.push(`${e.time.toISOString().slice(11, 23)} ${e.message ?? ''}`);
        if (!atStaged && /every component staged/.test(e.message ?? '')) {
          atStaged = { pid: unitPid(state.runDir, state.siteDir, 'findface-security'), writes: readWriterStats(state)?.writes ?? 0 };
        }
      });
      expect(end.outcome?.error).toBeUndefined();
      expect(end.outcome?.phase).toBe('Completed');
      const refused = await snapshotMeanwhile;
      expect(refused?.code, refused?.stderr).toBe(EXIT_CODES.CONFLICT);
      expect(refused?.stderr).toContain(`cannot start snapshot of site '${SITE}': restore job ${end.jobId} on `);
      const job = await api.getJob(end.jobId);
      const detail = job.detail as { writersStoppedMs?: number; integrity?: { errors: number }; safetySnapshotId?: string };
      // The safety snapshot ran inside the restore's lease.
      expect(detail.safetySnapshotId).toMatch(/^c-/);
      const total = end.time.getTime() - job.createdAt.getTime();
      console.log(`the switch, as the job logged it:\n${switchSteps.join('\n')}`);
      console.log(`restore of ${s1}: writers stopped for ${detail.writersStoppedMs} ms of ${total} ms; writer wrote ${(atStaged?.writes ?? 0) - writesAtStart} times while staging`);
      // Staging happened with the writer up and writing.
      expect(atStaged?.pid).toBeDefined();
      expect(atStaged!.writes).toBeGreaterThan(writesAtStart);
      expect(detail.writersStoppedMs).toBeGreaterThan(0);
      expect(detail.writersStoppedMs).toBeLessThan(total);
      expect(detail.integrity?.errors).toBe(0);
    } finally {
      api.close();
    }
    expect(await leftovers(state)).toEqual([]);
    await stopWriter(state);
    expect((await checkSiteState(state)).errors).toBe(0);
    // S1 is back: the table made after it is gone.
    expect(await sql(state, state.postgres.database, `SELECT to_regclass('${MARKER}')::text AS t`)).toEqual([{ t: null }]);
  }, 240_000);
  it("a damaged pack in a shard's checkpoint, or in the upload files, fails the stage of that component: exit 8, nothing changed", async () => {
    // A snapshot of the site as the writer left it: its checkpoints and new files sit in packs of their own.
    await stopWriter(state);
    const repoDir = path.join(fleet.repositories.root, SITE);
    const before = packs(repoDir);
    const s3 = (await fleet.json<{ snapshot: Snap }>('snapshot', 'create', '--site', SITE, '--wait', '--json')).snapshot.id;
    const manifest = decodeManifest((await fleet.cli('snapshot', 'show', s3, '--site', SITE, '--json')).stdout, 'snapshot show');
    const secrets = JSON.parse(readFileSync(fleet.repositories.secretsFile, 'utf8')) as Record<string, string>;
    const repo = new ResticRepository({ url: repoDir, password: secrets[SITE] ?? '', cacheDir: fleet.repositories.cacheDir });
    // Each new pack's one owner (restic find --pack), largest packs first: data, not trees.
    const owners: { pack: string; component: string }[] = [];
    for (const [pack] of [...packs(repoDir)].filter(([f]) => !before.has(f)).sort((a, b) => b[1] - a[1])) {
      const users = await repo.snapshotsUsingPacks([path.basename(pack)]);
      const comps = manifest.components.filter((c) => c.snapshotIds.some((id) => users.includes(id)));
      if (comps.length === 1) owners.push({ pack, component: comps[0]!.component });
    }
    for (const kind of ['tarantool', 'uploads']) {
      const target = owners.find((o) => o.component.startsWith(`${kind}:`));
      expect(target, `a pack of S3 only ${kind} uses (owners: ${JSON.stringify(owners.map((o) => o.component))})`).toBeDefined();
      corrupt(target!.pack);
      await startWriter(state);
      const pid = unitPid(state.runDir, state.siteDir, 'findface-security');
      const r = await fleet.cli('restore', '--site', SITE, '--snapshot', s3, '--component', target!.component, '--no-safety-snapshot', '--yes');
      console.log(r.stderr.split('\n').filter((l) => /ended Failed/.test(l)).join('\n'));
      expect(r.code, r.stderr).toBe(EXIT_CODES.ILLEGAL_STATE);
      expect(r.stderr).toContain(`staging component '${target!.component}' on host `);
      expect(r.stderr).toContain(`nothing on site '${SITE}' was changed and its writers were never stopped`);
      expect(unitPid(state.runDir, state.siteDir, 'findface-security')).toBe(pid);
      expect(await leftovers(state)).toEqual([]);
      await stopWriter(state);
      expect((await checkSiteState(state)).errors).toBe(0);
    }
  }, 240_000);
});
