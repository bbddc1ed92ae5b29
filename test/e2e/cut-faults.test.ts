/**
 * Issue 5 acceptance, faults: real agent and controller processes on a dev site with the writer running.
 * - kill -9 of an agent during upload → the snapshot ends Failed with the reason, is not listed, and the
 *   site is not frozen (the writer keeps going);
 * - kill -9 of the controller during the freeze → every agent thaws within its lease (writes resume
 *   within the lease: the slack allowed is for the probe on a loaded machine), the cut never seals, and the
 *   restarted controller records the job as failed.
 */
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GrpcControllerApi } from '../../controller/cli/api.js';
import { readWriterStats, startWriter, stopWriter } from '../../deploy/dev-site/index.js';
import { tailOf } from '../../deploy/dev-site/procs.js';
import type { JobEvent } from '../../shared/jobs.js';
import { startFleet, type TestFleet } from '../harness/fleet.js';
import { logTailOf, waitFor } from '../harness/processes.js';
import { operatorSecurity } from '../harness/pki.js';

const SITE = 'cf-a';
const LEASE_MS = 2000;

describe('consistent cut under faults', () => {
  let fleet: TestFleet;
  let api: GrpcControllerApi;

  /** Resolves with the ms a trivial query through the site's pgbouncer takes (blocks while PAUSEd). */
  async function probe(): Promise<number> {
    const state = fleet.sites.get(SITE)!;
    const c = new pg.Client({ host: state.pgbouncer.host, port: state.pgbouncer.port, user: state.postgres.superuser, database: state.postgres.database });
    await c.connect();
    const t = Date.now();
    await c.query('SELECT 1');
    const ms = Date.now() - t;
    await c.end();
    return ms;
  }

  async function writesNow(): Promise<number> {
    return readWriterStats(fleet.sites.get(SITE)!)?.writes ?? 0;
  }

  /**
   * Waits until the writer has made 50 more writes than `before` (the site keeps writing); when it has not
   * within 30 s, fails with what the writer and the agents said (a clean-clone run once stalled here).
   */
  async function keepsWriting(before: number, after: string): Promise<void> {
    await waitFor(async () => (await writesNow()) > before + 50, 30_000).catch((err: unknown) => {
      const state = fleet.sites.get(SITE)!;
      const stats = readWriterStats(state);
      const agents = [...fleet.agents.entries()].map(([key, p]) => logTailOf(`agent ${key}`, p, 8));
      throw new Error(
        `the site did not keep writing ${after}: ${(stats?.writes ?? 0) - before} writes in 30 s (${String(err)})\n` +
          `--- writer stats: ${JSON.stringify(stats)}\n--- writer log:\n${tailOf(path.join(state.runDir, 'writer.log'), 20)}\n${agents.join('\n')}`,
      );
    });
  }

  beforeAll(async () => {
    fleet = await startFleet([{ site: SITE, dossiers: 100, events: 400 }]);
    api = new GrpcControllerApi(fleet.controllerAddress, 30_000, operatorSecurity());
    await startWriter(SITE, { rate: 50 }, fleet.root); // load, not the machine's limit: a freeze must fit in the 2 s lease
  }, 180_000);

  afterAll(async () => {
    api?.close();
    if (fleet) await stopWriter(SITE, fleet.root).catch(() => undefined);
    await fleet?.stop();
  });

  it('an agent killed during upload fails the snapshot with the reason, and the site keeps writing', async () => {
    const startedAt = async (): Promise<number | undefined> => (await api.listAgents(SITE)).find((a) => a.description.host === 'files')?.description.startedAt.getTime();
    const firstRun = await startedAt();
    const events: JobEvent[] = [];
    let killed = false;
    const outcome = await api.createSnapshot({ site: SITE }, (e) => {
      events.push(e);
      if (!killed && e.step === 'upload' && e.progress?.component === 'uploads:uploads') {
        killed = true;
        void fleet.agents.get(`${SITE}/files`)?.kill();
      }
    });
    expect(killed).toBe(true);
    expect(outcome.outcome?.phase).toBe('Failed');
    expect(outcome.outcome?.error?.message).toMatch(new RegExp(`upload failed on ${SITE}/files: `));
    const snaps = await api.listSnapshots(SITE);
    expect(snaps.map((s) => s.id)).not.toContain((await api.getJob(outcome.jobId)).detail.snapshotId);
    const before = await writesNow();
    console.log(`a query through pgbouncer after the failed snapshot took ${await probe()} ms`);
    await keepsWriting(before, 'after the failed snapshot');
    fleet.startAgent(SITE, 'files');
    // The killed run's presence stays listed online until its TTL: wait for the new run's.
    await waitFor(async () => (await api.listAgents(SITE)).every((a) => a.status === 'online') && (await startedAt()) !== firstRun, 30_000);
  }, 120_000);

  it('a controller killed during the freeze: agents thaw within the lease, the cut never seals, the job is failed', async () => {
    await fleet.restartController({ FFK_CONTROLLER_SNAPSHOTS__HOLD_FROZEN_MS: '30000', FFK_CONTROLLER_SNAPSHOTS__LEASE_MS: String(LEASE_MS) });
    const holdApi = new GrpcControllerApi(fleet.controllerAddress, 30_000, operatorSecurity());
    let jobId = '';
    let frozenAt = 0;
    const stream = holdApi
      .createSnapshot({ site: SITE }, (e) => {
        jobId = e.jobId;
        if (e.step === 'cut' && frozenAt === 0) frozenAt = Date.now();
      })
      .catch((err: unknown) => err);
    await waitFor(async () => frozenAt > 0, 20_000, 20);
    await new Promise((r) => setTimeout(r, 200));
    await fleet.controller.kill();
    const killedAt = Date.now();
    // While the agents still hold the freeze, a query through pgbouncer blocks until their lease thaws them.
    await probe();
    const thawedAfterFreeze = Date.now() - frozenAt;
    console.log(`writes blocked ${Date.now() - killedAt} ms after the controller was killed; thawed ${thawedAfterFreeze} ms after the freeze (lease ${LEASE_MS} ms)`);
    // The agents' promise: thawed by their lease (2 s) with nobody to tell them; without it the site would stay
    // frozen for good. The slack is for the timer, RESUME and the probe's own query on a loaded machine.
    expect(thawedAfterFreeze).toBeLessThanOrEqual(LEASE_MS + 2000);
    const before = await writesNow();
    await keepsWriting(before, 'after the lease thawed the agents');
    await stream;
    holdApi.close();

    await fleet.restartController();
    api.close();
    api = new GrpcControllerApi(fleet.controllerAddress, 30_000, operatorSecurity());
    const job = await api.getJob(jobId);
    expect(job.phase).toBe('Failed');
    expect(job.error?.message).toBe('the controller stopped while this job ran (controller-1 was restarted)');
    expect(job.controller).toBe('controller-1');
    expect((await api.listSnapshots(SITE)).map((s) => s.id)).not.toContain(job.detail.snapshotId);
  }, 120_000);
});
