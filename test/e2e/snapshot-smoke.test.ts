/** Smoke: one coordinated snapshot of a dev site through the controller, then a restore into a scratch site. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GrpcControllerApi } from '../../controller/cli/api.js';
import type { JobEvent } from '../../shared/jobs.js';
import { checkSite } from '../../deploy/dev-site/index.js';
import { startFleet, type TestFleet } from '../harness/fleet.js';

describe('snapshot and restore through the controller (smoke)', () => {
  let fleet: TestFleet;
  let api: GrpcControllerApi;

  beforeAll(async () => {
    fleet = await startFleet([
      { site: 'sm-a', dossiers: 50, events: 200 },
      { site: 'sm-b', dossiers: 0, events: 0 },
    ]);
    api = new GrpcControllerApi(fleet.controllerAddress, 30_000);
  }, 180_000);

  afterAll(async () => {
    api?.close();
    await fleet?.stop();
  });

  it('takes a snapshot and restores it into another site', async () => {
    const events: JobEvent[] = [];
    const outcome = await api.createSnapshot({ site: 'sm-a' }, (e) => events.push(e));
    console.log(events.map((e) => `${e.step}: ${e.message ?? (e.progress ? `${e.progress.component} ${e.progress.bytesDone}/${e.progress.bytesTotal}` : e.outcome?.phase)}`).join('\n'));
    expect(outcome.outcome?.error).toBeUndefined();
    const list = await api.listSnapshots('sm-a');
    expect(list).toHaveLength(1);
    const snap = list[0]!;
    console.log(`snapshot ${snap.id}: ${snap.bytes} bytes, freeze ${snap.freezeWindowMs} ms`);
    const r = await api.restore(
      { site: 'sm-a', selector: { kind: 'id', id: snap.id }, components: [], toSite: 'sm-b', noSafetySnapshot: true },
      (e) => console.log(`restore ${e.step}: ${e.message ?? e.outcome?.phase ?? ''}`),
    );
    expect(r.outcome?.error).toBeUndefined();
    const report = await checkSite('sm-b', fleet.root);
    expect(report.errors).toBe(0);
  }, 300_000);
});
