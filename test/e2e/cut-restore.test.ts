/**
 * Issue 5 acceptance, the main path: real agent and controller processes, a dev site with the writer
 * running (FFK_E2E_WRITER_RATE, default 50 writes/s; the pace it reaches is the machine's, printed, not
 * asserted). N snapshots (FFK_E2E_CUTS; default 1, the acceptance run uses 20), each restored into a scratch
 * site whose integrity check must report 0 dangling references; the median freeze window is printed.
 * The writer runs through each whole snapshot (freeze, cut, thaw and upload: files are deleted and
 * created while they are read) and stops once it is sealed; then the source is trimmed back to its
 * starting counts (bench/freeze-window/trim.ts) so every round works on the same amount of data, and the
 * snapshot is restored and checked.
 * Then an interrupted restore (controller killed mid-way) resumed by job id completes with 0 errors.
 * The source site's repository is on an SFTP server (issue 20: the cut-and-restore path against SFTP).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GrpcControllerApi } from '../../controller/cli/api.js';
import { checkSite, readWriterStats, startWriter, stopWriter } from '../../deploy/dev-site/index.js';
import { SiteTrimmer, type SiteCounts } from '../../bench/freeze-window/trim.js';
import { startFleet, type TestFleet } from '../harness/fleet.js';
import { waitFor } from '../harness/processes.js';
import { operatorSecurity } from '../harness/pki.js';
import { secretsIn, watchCommandLines } from '../harness/ps-watch.js';
import { existsSync, readFileSync } from 'node:fs';
import { startSftpServer, type SftpServer } from '../harness/sftp-server.js';

const SOURCE = 'cr-src';
const SCRATCH = 'cr-scr';
// 20 rounds at 250 writes/s is the acceptance bar (FFK_E2E_CUTS=20 FFK_E2E_WRITER_RATE=250: ~11 min here, ~30 s a
// round); the suite runs 1 round at 50 writes/s to keep its time on a shared machine (the property asserted is the same).
const CUTS = Number(process.env.FFK_E2E_CUTS ?? 1);
const WRITER_RATE = Number(process.env.FFK_E2E_WRITER_RATE ?? 50);

interface ManifestLike {
  agents: { host: string; freezeWindowMs: number }[];
  components: { component: string; details?: Record<string, unknown> }[];
}

/** Each host's own freeze window, and how long the uploads shield took to settle in it. */
function describeFreeze(m: ManifestLike): string {
  const settle = m.components.filter((c) => c.details?.shieldSettleMs !== undefined).map((c) => `${c.component} shield settled in ${String(c.details?.shieldSettleMs)} ms`);
  return [...m.agents.map((a) => `${a.host} ${a.freezeWindowMs} ms`), ...settle].join(', ');
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
}

describe('consistent snapshots under load, each restored into a scratch site', () => {
  let fleet: TestFleet;
  let api: GrpcControllerApi;
  const windows: number[] = [];

  let sftp: SftpServer;

  beforeAll(async () => {
    // Issue 20: the source site's repository is on an SFTP server (sshd, password login, host key pinned).
    sftp = await startSftpServer();
    fleet = await startFleet(
      [
        { site: SOURCE, dossiers: 100, events: 400 },
        { site: SCRATCH, dossiers: 0, events: 0 },
      ],
      { remote: { server: sftp, sites: [SOURCE] } },
    );
    api = new GrpcControllerApi(fleet.controllerAddress, 30_000, operatorSecurity());
  }, 180_000);

  afterAll(async () => {
    api?.close();
    await fleet?.stop();
    await sftp?.stop();
  });

  it(`${CUTS} snapshots taken while the writer runs each restore with 0 integrity errors`, async () => {
    const source = fleet.sites.get(SOURCE)!;
    const trimmer = await SiteTrimmer.open(source);
    /**
     * The writer's pace going into each cut (its 2 s of stats flushes before the snapshot starts), and
     * over the whole snapshot (from then to its last stats, after the seal).
     */
    const into: { writes: number; seconds: number }[] = [];
    const paces: { writes: number; seconds: number; errors: number }[] = [];
    const started = Date.now();
    try {
      const baseline: SiteCounts = await trimmer.counts();
      for (let i = 1; i <= CUTS; i += 1) {
        const t0 = Date.now();
        await startWriter(SOURCE, { rate: WRITER_RATE }, fleet.root);
        const { value: first } = await waitFor(async () => {
          const st = readWriterStats(source);
          return st?.running === true && st.writes > 0 ? st : undefined;
        }, 90_000); // a writer's start on a busy machine (a clean-clone run once took over 30 s)
        const { value: before } = await waitFor(async () => {
          const st = readWriterStats(source);
          return st && st.pid === first.pid && st.elapsed - first.elapsed >= 2 ? st : undefined;
        }, 30_000);
        into.push({ writes: before.writes - first.writes, seconds: before.elapsed - first.elapsed });
        const ps = i === 1 ? watchCommandLines() : undefined;
        const snap = await api.createSnapshot({ site: SOURCE }, () => undefined).finally(async () => {
          const st = await stopWriter(SOURCE, fleet.root);
          if (st && st.pid === before.pid) paces.push({ writes: st.writes - before.writes, seconds: st.elapsed - before.elapsed, errors: st.errors });
        });
        expect(snap.outcome?.error, `snapshot ${i}`).toBeUndefined();
        const id = (await api.getJob(snap.jobId)).detail.snapshotId as string;
        const { summary, manifestJson } = await api.getSnapshot(id, SOURCE);
        windows.push(summary.freezeWindowMs);
        const freezeDetail = describeFreeze(JSON.parse(manifestJson) as ManifestLike);
        const trimmed = await trimmer.trimTo(baseline);
        const restored = await api.restore(
          { site: SOURCE, selector: { kind: 'id', id }, components: [], toSite: SCRATCH, noSafetySnapshot: true },
          () => undefined,
        );
        if (ps) {
          // No repository password and no TLS key ever stood on a command line during the snapshot and the restore.
          const lines = await ps.stop();
          const keys = [...fleet.sites.values()].flatMap((st) => Object.values(st.agentTls ?? {}).map((t) => readFileSync(t.key, 'utf8')));
          const generated = existsSync(fleet.repositories.secretsFile) ? (JSON.parse(readFileSync(fleet.repositories.secretsFile, 'utf8')) as Record<string, unknown>) : {};
          // The source site's repository: its restic password and the SFTP login's private key (each of its lines).
          const access = fleet.repositoryAccess(SOURCE);
          const keyLines = (access.ssh?.privateKey ?? '').split('\n').filter((l) => l.length >= 16 && !l.startsWith('-----'));
          const secrets = [...secretsIn(generated, keys), access.password, ...keyLines].filter((s) => s.length >= 8);
          expect(secrets).toContain(sftp.privateKey.split('\n')[1]);
          const leaks = lines.filter((l) => secrets.some((sec) => l.includes(sec)));
          console.log(`ps -eo args: ${lines.length} distinct command lines during snapshot and restore (restic among them: ${lines.some((l) => /\brestic\b/.test(l))}), ${leaks.length} holding a secret`);
          expect(leaks).toEqual([]);
        }
        const report = await checkSite(SCRATCH, fleet.root);
        if (report.errors > 0) console.log(JSON.stringify({ byKind: report.byKind, sample: report.issues.slice(0, 5) }, null, 1));
        // The restore started the scratch site's writers again (its findface-security is a writer):
        // stop it, or it competes with the next round's source writer for the 2 cores.
        await stopWriter(SCRATCH, fleet.root);
        const pace = paces.at(-1);
        const going = into.at(-1);
        console.log(
          `round ${i}/${CUTS}: ${id} freeze ${summary.freezeWindowMs} ms, writer ${going ? (going.writes / going.seconds).toFixed(0) : '?'} writes/s into the cut, ` +
            `${pace ? (pace.writes / pace.seconds).toFixed(0) : '?'} writes/s over the snapshot (${pace?.errors ?? '?'} errors), ` +
            `${report.errors} integrity errors; freeze by host ${freezeDetail}; trimmed ${trimmed.removed.events} events, ${trimmed.removed.dossiers} dossiers; ${((Date.now() - t0) / 1000).toFixed(0)} s`,
        );
        expect(restored.outcome?.error?.message, `restore of snapshot ${i} (${id})`).toBeUndefined();
        expect(report.errors, `integrity of the scratch site after restoring ${id}`).toBe(0);
      }
    } finally {
      await stopWriter(SOURCE, fleet.root).catch(() => undefined);
      await trimmer.close();
    }
    const rateOf = (xs: { writes: number; seconds: number }[]): number => xs.reduce((a, p) => a + p.writes, 0) / xs.reduce((a, p) => a + p.seconds, 0);
    const rate = rateOf(into);
    const elapsed = paces.reduce((a, p) => a + p.seconds, 0);
    console.log(
      `${CUTS} snapshots under load (writer ${rate.toFixed(0)} writes/s going into the cuts, slowest ${Math.min(...into.map((p) => p.writes / p.seconds)).toFixed(0)}/s; ` +
        `${rateOf(paces).toFixed(0)} writes/s over ${elapsed.toFixed(0)} s of snapshots, slowest ${Math.min(...paces.map((p) => p.writes / p.seconds)).toFixed(0)}/s; ` +
        `${paces.reduce((a, p) => a + p.errors, 0)} writer errors): freeze window median ${median(windows)} ms, max ${Math.max(...windows)} ms; ` +
        `every restore checked with 0 errors; ${((Date.now() - started) / 60_000).toFixed(1)} min`,
    );
    // The load really ran through every snapshot, and no write failed because of one.
    expect(paces).toHaveLength(CUTS);
    for (const p of paces) expect(p.writes, 'writes during a snapshot').toBeGreaterThan(0);
    expect(paces.reduce((a, p) => a + p.errors, 0), 'writer errors during the snapshots').toBe(0);
  }, 3_600_000);

  it('an interrupted restore resumed by job id completes with 0 errors', async () => {
    const [latest] = await api.listSnapshots(SOURCE);
    expect(latest).toBeDefined();
    let jobId = '';
    let killed = false;
    const first = api
      .restore({ site: SOURCE, selector: { kind: 'latest' }, components: [], toSite: SCRATCH, noSafetySnapshot: true }, (e) => {
        jobId = e.jobId;
        if (!killed && /tarantool:shard-001 switched in/.test(e.message ?? '')) {
          killed = true;
          void fleet.controller.kill();
        }
      })
      .catch((err: unknown) => err);
    await first;
    expect(killed).toBe(true);
    await fleet.restartController();
    api.close();
    api = new GrpcControllerApi(fleet.controllerAddress, 30_000, operatorSecurity());
    await waitFor(async () => (await api.listAgents(SCRATCH)).every((a) => a.status === 'online'), 15_000);
    const interrupted = await api.getJob(jobId);
    expect(interrupted.phase).toBe('Failed');
    const resumed = await api.resumeRestore(jobId, () => undefined);
    expect(resumed.outcome?.error).toBeUndefined();
    expect(resumed.outcome?.phase).toBe('Completed');
    expect((await checkSite(SCRATCH, fleet.root)).errors).toBe(0);
  }, 300_000);
});
