/**
 * Issue 5 acceptance, the main path: real agent and controller processes, a dev site with the writer
 * running at ≥ 200 writes/s. N snapshots (FFK_E2E_CUTS; default 3, the acceptance run uses 20), each restored into a scratch
 * site whose integrity check must report 0 dangling references; the median freeze window is printed.
 * Then an interrupted restore (controller killed mid-way) resumed by job id completes with 0 errors.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GrpcControllerApi } from '../../controller/cli/api.js';
import { checkSite, readWriterStats, startWriter, stopWriter } from '../../deploy/dev-site/index.js';
import { startFleet, type TestFleet } from '../harness/fleet.js';
import { waitFor } from '../harness/processes.js';

const SOURCE = 'cr-src';
const SCRATCH = 'cr-scr';
// 20 rounds is the acceptance bar (run with FFK_E2E_CUTS=20, ~1 min a round here); CI runs 3 to keep the suite short.
const CUTS = Number(process.env.FFK_E2E_CUTS ?? 3);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
}

describe('consistent snapshots under load, each restored into a scratch site', () => {
  let fleet: TestFleet;
  let api: GrpcControllerApi;
  const windows: number[] = [];

  beforeAll(async () => {
    fleet = await startFleet([
      { site: SOURCE, dossiers: 100, events: 400 },
      { site: SCRATCH, dossiers: 0, events: 0 },
    ]);
    api = new GrpcControllerApi(fleet.controllerAddress, 30_000);
    await startWriter(SOURCE, { rate: 220 }, fleet.root);
  }, 180_000);

  afterAll(async () => {
    api?.close();
    if (fleet) await stopWriter(SOURCE, fleet.root).catch(() => undefined);
    await fleet?.stop();
  });

  it(`${CUTS} snapshots taken while the writer runs each restore with 0 integrity errors`, async () => {
    for (let i = 1; i <= CUTS; i += 1) {
      const snap = await api.createSnapshot({ site: SOURCE }, () => undefined);
      expect(snap.outcome?.error, `snapshot ${i}`).toBeUndefined();
      const id = (await api.getJob(snap.jobId)).detail.snapshotId as string;
      const summary = (await api.getSnapshot(id, SOURCE)).summary;
      windows.push(summary.freezeWindowMs);
      const restored = await api.restore(
        { site: SOURCE, selector: { kind: 'id', id }, components: [], toSite: SCRATCH, noSafetySnapshot: true },
        () => undefined,
      );
      const report = await checkSite(SCRATCH, fleet.root);
      if (report.errors > 0) console.log(JSON.stringify({ byKind: report.byKind, sample: report.issues.slice(0, 5) }, null, 1));
      expect(restored.outcome?.error?.message, `restore of snapshot ${i} (${id})`).toBeUndefined();
      expect(report.errors, `integrity of the scratch site after restoring ${id}`).toBe(0);
    }
    const stats = readWriterStats(fleet.sites.get(SOURCE)!);
    console.log(
      `${CUTS} snapshots under load (writer ${stats?.rate.toFixed(0)} writes/s): freeze window median ${median(windows)} ms, ` +
        `max ${Math.max(...windows)} ms; every restore checked with 0 errors`,
    );
    expect(stats?.rate ?? 0).toBeGreaterThanOrEqual(200);
  }, 1_800_000);

  it('an interrupted restore resumed by job id completes with 0 errors', async () => {
    const [latest] = await api.listSnapshots(SOURCE);
    expect(latest).toBeDefined();
    let jobId = '';
    let killed = false;
    const first = api
      .restore({ site: SOURCE, selector: { kind: 'latest' }, components: [], toSite: SCRATCH, noSafetySnapshot: true }, (e) => {
        jobId = e.jobId;
        if (!killed && /tarantool:shard-001 restored/.test(e.message ?? '')) {
          killed = true;
          void fleet.controller.kill();
        }
      })
      .catch((err: unknown) => err);
    await first;
    expect(killed).toBe(true);
    await fleet.restartController();
    api.close();
    api = new GrpcControllerApi(fleet.controllerAddress, 30_000);
    await waitFor(async () => (await api.listAgents(SCRATCH)).every((a) => a.status === 'online'), 15_000);
    const interrupted = await api.getJob(jobId);
    expect(interrupted.phase).toBe('Failed');
    const resumed = await api.resumeRestore(jobId, () => undefined);
    expect(resumed.outcome?.error).toBeUndefined();
    expect(resumed.outcome?.phase).toBe('Completed');
    expect((await checkSite(SCRATCH, fleet.root)).errors).toBe(0);
  }, 300_000);
});
