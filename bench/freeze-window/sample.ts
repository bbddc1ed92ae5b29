/**
 * One measured snapshot: start the site's writer at the bench's rate, let it write for a second, take a
 * snapshot through the controller, stop the writer as soon as the controller reports the thaw (so the
 * writer's files do not pile up during the upload), and read the freeze window from the sealed snapshot.
 */
import type { GrpcControllerApi } from '../../controller/cli/api.js';
import { readWriterStats, startWriter, stopWriter, type SiteState, type WriterStats } from '../../deploy/dev-site/index.js';
import { IllegalStateError, TimeoutError } from '../../shared/errors.js';
import { decodeManifest } from '../../shared/manifest-codec.js';
import { barePauseCut, type PeerWindow } from './peer.js';

/** A snapshot that sealed: its freeze windows and what the writer did meanwhile. */
export interface Sample {
  kind: 'sealed';
  snapshotId: string;
  /** First freeze call to last thaw answer, measured by the controller (manifest `freezeWindowMs`). */
  windowMs: number;
  /** Each agent's own freeze window, by host. */
  agentWindowsMs: Record<string, number>;
  /** The window's steps as the controller timed them (manifest `freezeSteps`), ms by step. */
  stepsMs: Record<string, number>;
  /** Bytes the snapshot read from all components. */
  snapshotBytes: number;
  /**
   * The writer's pace (writes/s) going into the freeze: from its first stats flush with a write to its
   * last flush before the freeze call (at least 1 s later); NaN for a warm-up (no writer). And its errors.
   */
  writerRate: number;
  writerErrors: number;
  /** The bare PAUSE-based cut taken on the same site under the same writer just before (not in warm-ups). */
  peer?: PeerWindow;
}

/** A snapshot that did not seal, with the reason. */
export interface FailedSample {
  kind: 'failed';
  reason: string;
}

export interface SampleTarget {
  api: GrpcControllerApi;
  state: SiteState;
  /** Writer pace, writes/s. */
  rate: number;
}

/** Between the peer's RESUME and the snapshot: pgbouncer reconnects to the server, the writer's pace recovers. */
const PEER_SETTLE_MS = 1000;

/** Steps after which the freeze is over: the writer can stop. */
const AFTER_THAW = new Set(['thaw', 'upload', 'seal', 'abort']);

/** The writer's first stats flush with a write, and its first flush at least `forMs` later. */
async function writingFor(state: SiteState, forMs: number, timeoutMs: number): Promise<{ first: WriterStats; steady: WriterStats }> {
  const deadline = Date.now() + timeoutMs;
  let first: WriterStats | undefined;
  for (;;) {
    const stats = readWriterStats(state);
    if (stats?.running && stats.writes > 0) {
      first ??= stats;
      if ((stats.elapsed - first.elapsed) * 1000 >= forMs) return { first, steady: stats };
    }
    if (Date.now() > deadline) throw new TimeoutError(`dev site '${state.site}': the writer did not write for ${forMs} ms within ${timeoutMs} ms (last error: ${stats?.lastError ?? 'none'})`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Writes/s between two stats flushes of the same writer (NaN when they are the same flush). */
function paceBetween(a: WriterStats, b: WriterStats): number {
  if (b.pid !== a.pid || b.elapsed <= a.elapsed) return Number.NaN;
  return (b.writes - a.writes) / (b.elapsed - a.elapsed);
}

/** Takes one snapshot with no writer running (warm-ups). */
export async function takeQuietSample(t: Omit<SampleTarget, 'rate'>): Promise<Sample | FailedSample> {
  const outcome = await t.api.createSnapshot({ site: t.state.site, reason: 'bench: freeze window (warm-up)' }, () => undefined);
  const error = outcome.outcome?.error;
  if (error) return { kind: 'failed', reason: `${error.code}: ${error.message}` };
  return { ...(await sealedFacts(t, outcome.jobId)), writerRate: Number.NaN, writerErrors: 0 };
}

/** Takes one snapshot of the target site under writer load; never leaves the writer running. */
export async function takeSample(t: SampleTarget): Promise<Sample | FailedSample> {
  await startWriter(t.state, { rate: t.rate });
  let stopping: Promise<WriterStats | undefined> | undefined;
  const stop = (): Promise<WriterStats | undefined> => {
    if (!stopping) {
      stopping = stopWriter(t.state);
      stopping.catch(() => undefined); // observed below; this only keeps an early failure from being "unhandled"
    }
    return stopping;
  };
  let pace: { first: WriterStats; steady: WriterStats };
  let atFreeze: WriterStats | undefined;
  let outcome;
  let peer: PeerWindow;
  try {
    pace = await writingFor(t.state, 1000, 30_000);
    // The peer first, then a second for pgbouncer to open its server connections again (PAUSE closed them).
    peer = await barePauseCut(t.state);
    await new Promise((r) => setTimeout(r, PEER_SETTLE_MS));
    outcome = await t.api.createSnapshot({ site: t.state.site, reason: 'bench: freeze window' }, (e) => {
      if (e.step === 'freeze') atFreeze ??= readWriterStats(t.state);
      if (AFTER_THAW.has(e.step) || e.outcome) void stop();
    });
  } finally {
    await stop();
  }
  const last = await stop();
  const error = outcome.outcome?.error;
  if (error) return { kind: 'failed', reason: `${error.code}: ${error.message}` };
  const before = atFreeze && atFreeze.pid === pace.steady.pid && atFreeze.elapsed > pace.steady.elapsed ? atFreeze : pace.steady;
  return { ...(await sealedFacts(t, outcome.jobId)), writerRate: paceBetween(pace.first, before), writerErrors: last?.errors ?? 0, peer };
}

async function sealedFacts(t: Omit<SampleTarget, 'rate'>, jobId: string): Promise<Omit<Sample, 'writerRate' | 'writerErrors'>> {
  const snapshotId = (await t.api.getJob(jobId)).detail.snapshotId;
  if (typeof snapshotId !== 'string') throw new IllegalStateError(`snapshot job ${jobId} of site '${t.state.site}' completed without a snapshot id`);
  const { summary, manifestJson } = await t.api.getSnapshot(snapshotId, t.state.site);
  const manifest = decodeManifest(manifestJson, `snapshot '${snapshotId}' of site '${t.state.site}'`);
  return {
    kind: 'sealed',
    snapshotId,
    windowMs: summary.freezeWindowMs,
    agentWindowsMs: Object.fromEntries(manifest.agents.map((a) => [a.host, a.freezeWindowMs])),
    stepsMs: Object.fromEntries((manifest.freezeSteps ?? []).map((x) => [x.step, x.ms])),
    snapshotBytes: summary.bytes,
  };
}
