/**
 * The dev site's acceptance (issue 3): a 2-shard site with ≥ 1,000 dossiers and ≥ 5,000 events checks
 * clean; the writer writes every kind of change (events, dossier faces, watch-list edits, deletions,
 * retention), and the site checks clean while it writes and after. Its pace is the machine's, so it is
 * printed (CI logs keep it), not asserted.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkSite, readWriterStats, startWriter, stopWriter, upSite, type UpResult } from '../../deploy/dev-site/index.js';
import { cleanRoot, testRoot, uniqueSite } from './fixtures.js';

const root = testRoot();
const site = uniqueSite('acc');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('dev site acceptance', () => {
  let up: UpResult;

  beforeAll(async () => {
    up = await upSite({ site, root, shards: 2, dossiers: 1000, events: 5000 });
    const mib = Math.round(up.loaded.bytes / 2 ** 20);
    console.log(`[devsite] up 2 shards, 1000 dossiers (${up.loaded.faces} faces), 5000 events, ${mib} MiB: ${up.timingsMs.total} ms (setup ${up.timingsMs.setup} ms, load ${up.timingsMs.load} ms)`);
  }, 180_000);

  afterAll(() => cleanRoot(root), 60_000);

  it('brings up 2 shards with ≥ 1,000 dossiers and ≥ 5,000 events that check with 0 errors', async () => {
    expect(up.state.shards.map((s) => s.name)).toEqual(['shard-001', 'shard-002']);
    const report = await checkSite(site, root);
    console.log(`[devsite] check of ${report.counts.dossierFaces} faces + ${report.counts.events} events + ${report.counts.files} files: ${report.durationMs} ms`);
    expect(report.issues).toEqual([]);
    expect(report).toMatchObject({ ok: true, errors: 0, warnings: 0 });
    expect(report.counts.events).toBe(5000);
    expect(report.counts.dossierFaces).toBe(up.loaded.faces);
    expect(up.loaded.dossiers).toBe(1000);
    expect(report.counts.records).toMatchObject({ ffsec_face_objects: up.loaded.faces, ffsec_face_events: 5000, ffsec_body_objects: 0 });
    expect(report.counts.files).toBe(3 * (up.loaded.faces + 5000));
  });

  it('writes every kind of change for 20 s and still checks with 0 errors, during and after', async () => {
    await startWriter(site, { rate: 300, eventCap: 5500 }, root); // retention starts within seconds
    const started = Date.parse(readWriterStats(up.state)?.startedAt ?? '') || Date.now(); // the writer's own clock
    await sleep(10_000);
    const during = await checkSite(site, root);
    await sleep(Math.max(0, 20_000 - (Date.now() - started)));
    const stats = await stopWriter(site, root);
    const after = await checkSite(site, root);
    console.log(
      `[devsite] writer: ${stats?.writes} writes in ${stats?.elapsed.toFixed(1)} s = ${stats?.rate} writes/s (target 300) ` +
        `${JSON.stringify(stats?.byKind)}, retention deleted ${stats?.retentionDeleted}, ${stats?.errors} errors; ` +
        `check during: ${during.errors} errors / ${during.warnings} warnings in ${during.durationMs} ms; after: ${after.errors} / ${after.warnings} in ${after.durationMs} ms`,
    );
    expect(during.issues.filter((i) => i.severity === 'error')).toEqual([]);
    expect(stats?.errors).toBe(0);
    for (const kind of ['event', 'dossierFace', 'watchListEdit', 'dossierDelete'] as const) expect(stats?.byKind[kind]).toBeGreaterThan(0);
    expect(stats?.retentionDeleted).toBeGreaterThan(0);
    expect(after.issues).toEqual([]);
    expect(after).toMatchObject({ ok: true, errors: 0, warnings: 0 });
  }, 150_000);
});
