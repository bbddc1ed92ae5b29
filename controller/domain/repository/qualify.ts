/**
 * Storage qualification (`ffkeeper repo qualify --site S`): before a site's backups depend on a storage
 * location, prove through each credential set what it can do — agents' credentials write, list, read back
 * and (the point) cannot delete; the controller's maintenance credentials list and delete — and measure
 * write and read throughput and a listing's latency. Test objects are one small snapshot tagged
 * `ffk-qualify=<id>`, removed at the end through the maintenance credentials.
 */
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { describeError } from '../../../shared/errors.js';
import type { Repository } from '../../../shared/repository/repository.js';
import { siteTag } from '../../../shared/tags.js';

/** The two credential sets of a site's repository; `separate` false when agents hold the controller's own. */
export interface CredentialSets {
  agent: Repository;
  maintenance: Repository;
  separate: boolean;
}

export interface QualifyStep {
  credentials: 'agent' | 'maintenance';
  /** open, write, list, read, delete */
  step: string;
  ok: boolean;
  /** What happened, in words (the storage's own words on a failure). */
  detail: string;
  ms: number;
}

export type AppendOnlyVerdict = 'append-only' | 'can-delete' | 'unknown';

export interface Qualification {
  site: string;
  /** The repository as agents reach it, and as the controller does (credentials masked). */
  agentUrl: string;
  maintenanceUrl: string;
  separate: boolean;
  steps: QualifyStep[];
  bytes: number;
  writeMiBps?: number;
  readMiBps?: number;
  listMs?: number;
  appendOnly: AppendOnlyVerdict;
  /** Every step passed and, with separate credentials, the agents' cannot delete. */
  ok: boolean;
  /** What an operator should do or know, one line each. */
  findings: string[];
}

const QUALIFY_TAG = 'ffk-qualify';
export const DEFAULT_QUALIFY_BYTES = 16 * 1024 * 1024;

const mib = (bytes: number, ms: number): number => Math.round((bytes / 1048576 / Math.max(ms, 1)) * 1000 * 10) / 10;

/** `bytes` of random data in 1 MiB chunks, hashed as they are produced. */
function testData(bytes: number): { stream: Readable; digest: () => string } {
  const hash = createHash('sha256');
  let left = bytes;
  const stream = new Readable({
    read() {
      if (left <= 0) {
        this.push(null);
        return;
      }
      const chunk = randomBytes(Math.min(left, 1048576));
      left -= chunk.length;
      hash.update(chunk);
      this.push(chunk);
    },
  });
  return { stream, digest: () => hash.digest('hex') };
}

async function sha256Of(stream: Readable): Promise<{ digest: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of stream) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { digest: hash.digest('hex'), bytes };
}

/** Runs the qualification; never throws for a storage failure (each is a failed step in the report). */
export async function qualifyRepository(
  site: string,
  sets: CredentialSets,
  options: {
    bytes?: number;
    id?: string;
    signal?: AbortSignal;
    /** Prune after deleting the test snapshot (cheap in a new repository; else its data waits for the next prune). */
    prune?: boolean;
  } = {},
): Promise<Qualification> {
  const bytes = options.bytes ?? DEFAULT_QUALIFY_BYTES;
  const id = options.id ?? randomBytes(6).toString('hex');
  const signal = options.signal ? { signal: options.signal } : {};
  const steps: QualifyStep[] = [];
  const findings: string[] = [];
  const report: Qualification = {
    site,
    agentUrl: sets.agent.displayUrl,
    maintenanceUrl: sets.maintenance.displayUrl,
    separate: sets.separate,
    steps,
    bytes,
    appendOnly: 'unknown',
    ok: false,
    findings,
  };
  /** Runs one step; its failure is recorded (named by credentials and step) and ends the qualification. */
  const step = async <T>(credentials: QualifyStep['credentials'], name: string, fn: () => Promise<{ value: T; detail: string }>): Promise<T | undefined> => {
    const t0 = performance.now();
    try {
      const { value, detail } = await fn();
      steps.push({ credentials, step: name, ok: true, detail, ms: Math.round(performance.now() - t0) });
      return value;
    } catch (err) {
      const detail = describeError(err);
      steps.push({ credentials, step: name, ok: false, detail, ms: Math.round(performance.now() - t0) });
      findings.push(`${name} through the ${credentials} credentials failed: ${detail}`);
      return undefined;
    }
  };
  const tags = [siteTag(site), `${QUALIFY_TAG}=${id}`];
  const filename = `ffk-qualify-${id}.bin`;

  const opened = await step('agent', 'open', async () => {
    const info = await sets.agent.describe(signal);
    return { value: true, detail: `repository ${info.id.slice(0, 8)} opened (format ${info.formatVersion})` };
  });
  if (!opened) return report;
  const data = testData(bytes);
  const written = await step('agent', 'write', async () => {
    const t0 = performance.now();
    const s = await sets.agent.backupStream({ stream: data.stream, filename, tags }, signal);
    report.writeMiBps = mib(bytes, performance.now() - t0);
    return { value: s.snapshotId, detail: `${bytes} bytes written as snapshot ${s.snapshotId.slice(0, 8)} (${report.writeMiBps} MiB/s)` };
  });
  if (written === undefined) return report;
  const listed = await step('agent', 'list', async () => {
    const t0 = performance.now();
    const found = await sets.agent.listSnapshots({ tags }, signal);
    report.listMs = Math.round(performance.now() - t0);
    if (!found.some((s) => s.id === written)) throw new Error(`the snapshot just written (${written.slice(0, 8)}) is not listed`);
    return { value: true, detail: `listed in ${report.listMs} ms` };
  });
  const read = listed && (await step('agent', 'read', async () => {
    const t0 = performance.now();
    const back = await sha256Of(sets.agent.dump({ snapshotId: written, path: `/${filename}` }, signal));
    report.readMiBps = mib(back.bytes, performance.now() - t0);
    if (back.bytes !== bytes || back.digest !== data.digest()) throw new Error(`read back ${back.bytes} bytes that differ from the ${bytes} written`);
    return { value: true, detail: `${bytes} bytes read back, identical (${report.readMiBps} MiB/s)` };
  }));
  let removedByAgent = false;
  if (read) {
    await step('agent', 'delete', async () => {
      const attempt = await sets.agent.tryRemove(written, signal);
      removedByAgent = attempt.removed;
      report.appendOnly = attempt.removed ? 'can-delete' : 'append-only';
      return { value: true, detail: attempt.removed ? 'the test snapshot was DELETED: these credentials can delete backups' : `refused, as it should be: ${attempt.refusal}` };
    });
  }
  if (sets.separate) {
    const mOpened = await step('maintenance', 'open', async () => {
      const info = await sets.maintenance.describe(signal);
      return { value: true, detail: `repository ${info.id.slice(0, 8)} opened` };
    });
    if (mOpened && !removedByAgent) {
      await step('maintenance', 'delete', async () => {
        const r = await sets.maintenance.forget({ snapshotIds: [written], prune: options.prune === true }, signal);
        if (r.removed.length !== 1) throw new Error(`the test snapshot ${written.slice(0, 8)} was not found to delete`);
        return { value: true, detail: options.prune ? 'the test snapshot was deleted and its data pruned' : 'the test snapshot was deleted (its data is freed by the next prune)' };
      });
    }
  } else if (!removedByAgent && read) {
    findings.push(`the test snapshot ${written.slice(0, 8)} (tag ${QUALIFY_TAG}=${id}) is left in the repository: nothing here may delete it`);
  }
  const allOk = steps.every((s) => s.ok);
  if (report.appendOnly === 'can-delete') {
    findings.push(
      sets.separate
        ? "the agents' credentials can delete backups: their endpoint is not append-only (rclone serve restic --append-only, or the backend's equivalent)"
        : `agents hold the credentials that delete backups: a compromised host can destroy them; give agents an append-only endpoint and the controller its own (repositories.sites.${site}.maintenance)`,
    );
  }
  report.ok = allOk && (!sets.separate || report.appendOnly === 'append-only');
  return report;
}
