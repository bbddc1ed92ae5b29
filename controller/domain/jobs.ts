/**
 * Runs jobs (snapshots, restores): creates the record, publishes every event to the audit trail and to
 * live subscribers, persists the detail a resume needs, and ends with an outcome. A job's failure is
 * stored on the job (velero-style phases), not lost: ValidationError → FailedValidation, else Failed.
 */
import { randomBytes } from 'node:crypto';
import { describeError, toFfkError, type FfkError } from '../../shared/errors.js';
import { isFinal, type JobEvent, type JobKind, type JobPhase, type JobProgress, type JobRecord } from '../../shared/jobs.js';
import type { Logger } from '../../shared/logger.js';
import type { ControllerInstance } from './controllers.js';
import type { EventLog, JobStore } from './ports.js';

/** What a job's work function gets. */
export interface JobContext {
  readonly id: string;
  readonly site: string;
  readonly kind: JobKind;
  /** Kind-specific state, persisted by `save()` (what --resume needs). */
  readonly detail: Record<string, unknown>;
  readonly signal: AbortSignal;
  step(name: string, message?: string): void;
  progress(p: JobProgress): void;
  message(text: string): void;
  save(): Promise<void>;
}

export type JobListener = (event: JobEvent) => void;

export interface RunningJob {
  id: string;
  /** Resolves with the final record (never rejects: the failure is on the record). */
  done: Promise<JobRecord>;
  subscribe(listener: JobListener): () => void;
}

export interface JobRunnerOptions {
  store: JobStore;
  events: EventLog;
  logger: Logger;
  /** This controller process, written on each job it runs (another controller tells from it whose job it is). */
  runBy?: ControllerInstance;
  now?: () => Date;
}

/** `j-20261121-173905-3f9a1c`: sortable by time, unique enough. */
export function newJobId(now: Date, prefix = 'j'): string {
  const t = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `${prefix}-${t}-${randomBytes(3).toString('hex')}`;
}

export class JobRunner {
  private readonly live = new Map<string, Set<JobListener>>();
  private readonly now: () => Date;

  constructor(private readonly options: JobRunnerOptions) {
    this.now = options.now ?? (() => new Date());
  }

  /**
   * Starts a new job; `work` runs in the background. `options.acquire` runs first with the new job's id
   * (e.g. to take the site's lease): when it throws, no job is created; what it returns is called when
   * the work has ended, however it ended.
   */
  async start(
    kind: JobKind,
    site: string,
    work: (ctx: JobContext) => Promise<void>,
    detail: Record<string, unknown> = {},
    options: { acquire?: (jobId: string) => Promise<() => Promise<void>> } = {},
  ): Promise<RunningJob> {
    const id = newJobId(this.now());
    const release = options.acquire ? await options.acquire(id) : undefined;
    try {
      const now = this.now();
      const runBy = this.options.runBy;
      const record: JobRecord = { id, kind, site, phase: 'New', createdAt: now, updatedAt: now, step: 'new', detail, ...(runBy ? { controller: runBy.id, instance: runBy.instance } : {}) };
      await this.options.store.put(record);
      if (!release) return this.run(record, work);
      return this.run(record, async (ctx) => {
        try {
          await work(ctx);
        } finally {
          await release();
        }
      });
    } catch (err) {
      await release?.();
      throw err;
    }
  }

  /** Runs an existing (interrupted) job again with the same id and detail. */
  async resume(record: JobRecord, work: (ctx: JobContext) => Promise<void>): Promise<RunningJob> {
    const { error: _previous, ...rest } = record;
    return this.run({ ...rest, phase: 'New', updatedAt: this.now() }, work);
  }

  /** Whether a job runs in this process now. */
  isRunning(id: string): boolean {
    return this.live.has(id);
  }

  /** Listens to a running job's events; returns undefined when it does not run here. */
  subscribe(id: string, listener: JobListener): (() => void) | undefined {
    const set = this.live.get(id);
    if (!set) return undefined;
    set.add(listener);
    return () => set.delete(listener);
  }

  /**
   * Marks as Failed the unfinished jobs whose controller process is gone (`alive` says which run): it died
   * while they ran. A job without a controller (written before jobs named theirs) counts as gone. Returns
   * them, so a restore can be offered for --resume.
   */
  async failOrphans(alive: (runBy: ControllerInstance) => boolean, reason: (j: JobRecord) => string): Promise<JobRecord[]> {
    const open = (await this.options.store.list({})).filter((j) => !isFinal(j.phase) && !this.live.has(j.id));
    const orphans = open.filter((j) => j.controller === undefined || j.instance === undefined || !alive({ id: j.controller, instance: j.instance }));
    const marked: JobRecord[] = [];
    for (const j of orphans) {
      // Read again: the job may have ended, or been marked by another controller, since the listing.
      const cur = await this.options.store.get(j.id);
      if (!cur || isFinal(cur.phase) || cur.instance !== j.instance) continue;
      const record: JobRecord = { ...cur, phase: 'Failed', updatedAt: this.now(), error: { code: 'CANCELLED', message: reason(cur) } };
      await this.options.store.put(record);
      await this.publish(record, { outcome: { phase: 'Failed', error: record.error } });
      marked.push(record);
    }
    return marked;
  }

  private run(initial: JobRecord, work: (ctx: JobContext) => Promise<void>): RunningJob {
    const listeners = new Set<JobListener>();
    this.live.set(initial.id, listeners);
    const runBy = this.options.runBy;
    let record: JobRecord = { ...initial, phase: 'InProgress', ...(runBy ? { controller: runBy.id, instance: runBy.instance } : {}) };
    const abort = new AbortController();
    const emit = (fields: Partial<JobEvent>): void => {
      void this.publish(record, fields, listeners);
    };
    const ctx: JobContext = {
      id: record.id,
      site: record.site,
      kind: record.kind,
      detail: record.detail,
      signal: abort.signal,
      step: (name, message) => {
        record = { ...record, step: name, updatedAt: this.now() };
        void this.options.store.put(record).catch((err: unknown) => this.options.logger.warn({ err }, 'could not save job record'));
        emit(message ? { message } : { message: name });
      },
      progress: (p) => emit({ progress: p }),
      message: (text) => emit({ message: text }),
      save: async () => {
        record = { ...record, updatedAt: this.now() };
        await this.options.store.put(record);
      },
    };
    const done = (async (): Promise<JobRecord> => {
      await this.options.store.put(record);
      emit({ message: `${record.kind} job ${record.id} started for site ${record.site}` });
      let phase: JobPhase = 'Completed';
      let error: JobRecord['error'];
      try {
        await work(ctx);
      } catch (err) {
        const e: FfkError = toFfkError(err);
        phase = e.code === 'VALIDATION' ? 'FailedValidation' : 'Failed';
        error = { code: e.code, message: describeError(e) };
        this.options.logger.warn({ jobId: record.id, err: e }, 'job failed');
      }
      record = { ...record, phase, updatedAt: this.now(), ...(error ? { error } : {}) };
      await this.options.store.put(record).catch((err: unknown) => this.options.logger.error({ err }, 'could not save job outcome'));
      await this.publish(record, { outcome: { phase, ...(error ? { error } : {}) } }, listeners);
      this.live.delete(record.id);
      return record;
    })();
    return {
      id: record.id,
      done,
      subscribe: (l) => {
        listeners.add(l);
        return () => listeners.delete(l);
      },
    };
  }

  private async publish(record: JobRecord, fields: Partial<JobEvent>, listeners?: Set<JobListener>): Promise<void> {
    const event: JobEvent = { jobId: record.id, site: record.site, time: this.now(), phase: record.phase, step: record.step, ...fields };
    for (const l of listeners ?? []) l(event);
    await this.options.events.publish(event).catch((err: unknown) => this.options.logger.warn({ err }, 'could not publish job event'));
  }
}
