/**
 * Schedules: per site and kind (snapshot, verify drill, retention, copy), a cron expression in a time zone,
 * kept in shared state (KV). The scheduler fires each due schedule once: after controller downtime the
 * missed occurrences become one run, not a burst (the record remembers the occurrence it last ran for).
 * An occurrence is claimed with a compare-and-set on the record, so two controllers never both run it,
 * and an occurrence that comes while the schedule's previous run still goes is skipped, not queued.
 */
import { Cron } from 'croner';
import { describeError, ValidationError } from '../../shared/errors.js';
import { checkSiteId } from '../../shared/ids.js';
import { checkTimeZone } from '../../shared/time-zone.js';
import type { JobRecord } from '../../shared/jobs.js';
import type { Logger } from '../../shared/logger.js';
import type { RunningJob } from './jobs.js';

export const SCHEDULE_KINDS = ['snapshot', 'verify', 'retention', 'copy'] as const;
export type ScheduleKind = (typeof SCHEDULE_KINDS)[number];

/** Daily at 02:00 in the schedule's time zone. */
export const DEFAULT_CRON = '0 2 * * *';
export const DEFAULT_TIMEZONE = 'UTC';

export interface Schedule {
  site: string;
  kind: ScheduleKind;
  cron: string;
  timezone: string;
  /** When it was set (or last changed): the first occurrence counted is the first after this. */
  updatedAt: Date;
  /** The occurrence it last ran for (or skipped). */
  lastRunAt?: Date;
  lastJobId?: string;
  /** The last run's outcome: a job phase, or why it did not start. */
  lastOutcome?: string;
}

/** A stored schedule and its revision (for compare-and-set). */
export interface StoredSchedule {
  schedule: Schedule;
  revision: number;
}

export interface ScheduleStore {
  list(): Promise<StoredSchedule[]>;
  get(site: string, kind: ScheduleKind): Promise<StoredSchedule | undefined>;
  put(schedule: Schedule): Promise<void>;
  /** Writes `schedule` only if the stored revision is still `revision`; false when someone else did first. */
  replace(schedule: Schedule, revision: number): Promise<boolean>;
  remove(site: string, kind: ScheduleKind): Promise<boolean>;
}

/** Parses a cron expression (5 fields, or 6 with seconds) in a time zone; throws a ValidationError naming what is wrong. */
export function parseCron(cron: string, timezone: string): Cron {
  checkTimeZone(timezone);
  try {
    return new Cron(cron, { timezone, paused: true });
  } catch (err) {
    throw new ValidationError(`cron expression '${cron}' is not valid: ${describeError(err)}`, { field: 'cron' });
  }
}

export function checkKind(kind: string): ScheduleKind {
  if ((SCHEDULE_KINDS as readonly string[]).includes(kind)) return kind as ScheduleKind;
  throw new ValidationError(`schedule kind '${kind}' is not one of ${SCHEDULE_KINDS.join(', ')}`, { field: 'kind' });
}

/** The next occurrence strictly after `after`, or undefined when the expression has no more. */
export function nextOccurrence(s: Pick<Schedule, 'cron' | 'timezone'>, after: Date): Date | undefined {
  return parseCron(s.cron, s.timezone).nextRun(after) ?? undefined;
}

/** The newest occurrence in (`after`, `now`], or undefined when none is due. Bounded: cron patterns repeat. */
export function latestDue(s: Pick<Schedule, 'cron' | 'timezone'>, after: Date, now: Date): Date | undefined {
  const cron = parseCron(s.cron, s.timezone);
  let last: Date | undefined;
  let next = cron.nextRun(after);
  for (let i = 0; next && next <= now && i < 1_000_000; i++) {
    last = next;
    next = cron.nextRun(next);
  }
  return last;
}

/** Starts the job a schedule of a kind asks for (refusing or waiting as the use case decides). */
export type ScheduledRunner = (site: string, schedule: Schedule) => Promise<RunningJob>;

export interface SchedulerOptions {
  store: ScheduleStore;
  runners: Partial<Record<ScheduleKind, ScheduledRunner>>;
  logger: Logger;
  now?: () => Date;
  /** How often due schedules are looked for. */
  tickMs?: number;
  /**
   * Whether a job (the schedule's last run) has not ended: a run another controller started counts as
   * going until its job ends, or is marked failed when that controller is gone (domain/controllers.ts).
   */
  stillRunning?: (jobId: string) => Promise<boolean>;
}

export class Scheduler {
  private readonly now: () => Date;
  private readonly inFlight = new Map<string, Promise<unknown>>();
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;

  constructor(private readonly options: SchedulerOptions) {
    this.now = options.now ?? (() => new Date());
  }

  start(): void {
    if (this.timer) return;
    const tick = (): void => {
      if (this.ticking) return;
      this.ticking = this.tick()
        .catch((err: unknown) => this.options.logger.warn({ err }, `scheduler: ${describeError(err)}`))
        .finally(() => (this.ticking = undefined));
    };
    this.timer = setInterval(tick, this.options.tickMs ?? 1000);
    tick();
  }

  /** Stops firing; runs already started go on (they are jobs). */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.ticking;
  }

  /** Fires every schedule due at `now` once. Exposed for tests. */
  async tick(): Promise<void> {
    const now = this.now();
    for (const stored of await this.options.store.list()) {
      const { schedule } = stored;
      let due: Date | undefined;
      try {
        due = latestDue(schedule, schedule.lastRunAt ?? schedule.updatedAt, now);
      } catch (err) {
        this.options.logger.warn({ site: schedule.site, kind: schedule.kind, err }, 'scheduler: skipping an unreadable schedule');
        continue;
      }
      if (!due) continue;
      await this.fire(stored, due);
    }
  }

  private async fire({ schedule, revision }: StoredSchedule, due: Date): Promise<void> {
    const key = `${schedule.site}.${schedule.kind}`;
    const log = this.options.logger.child({ site: schedule.site, kind: schedule.kind, occurrence: due.toISOString() });
    const busy = this.inFlight.has(key) || (schedule.lastOutcome === 'InProgress' && schedule.lastJobId !== undefined && (await this.options.stillRunning?.(schedule.lastJobId)) === true);
    const runner = this.options.runners[schedule.kind];
    const outcome = busy ? 'skipped: the previous run was still going' : runner ? 'starting' : `skipped: this controller cannot run ${schedule.kind} schedules`;
    const claimed = await this.options.store.replace({ ...schedule, lastRunAt: due, lastOutcome: outcome }, revision);
    if (!claimed) return; // changed meanwhile, or another controller took this occurrence
    if (busy || !runner) {
      log.warn(`scheduled ${schedule.kind}: ${outcome}`);
      return;
    }
    log.info(`scheduled ${schedule.kind} of site '${schedule.site}' due at ${due.toISOString()}: starting`);
    const run = (async () => {
      let record: JobRecord | undefined;
      let jobId: string | undefined;
      let result: string;
      try {
        const job = await runner(schedule.site, schedule);
        jobId = job.id;
        await this.record(schedule, { lastJobId: job.id, lastOutcome: 'InProgress' });
        record = await job.done;
        result = record.phase + (record.error ? `: ${record.error.message}` : '');
      } catch (err) {
        result = `not started: ${describeError(err)}`;
      }
      if (record?.phase !== 'Completed') log.warn(`scheduled ${schedule.kind} of site '${schedule.site}': ${result}`);
      await this.record(schedule, { ...(jobId ? { lastJobId: jobId } : {}), lastOutcome: result });
    })();
    this.inFlight.set(key, run);
    void run.finally(() => this.inFlight.delete(key));
  }

  /** Notes a run's job and outcome on the schedule, unless it was removed or changed meanwhile. */
  private async record(schedule: Schedule, fields: Pick<Schedule, 'lastJobId' | 'lastOutcome'>): Promise<void> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const cur = await this.options.store.get(schedule.site, schedule.kind).catch(() => undefined);
      if (!cur || cur.schedule.cron !== schedule.cron || cur.schedule.timezone !== schedule.timezone) return;
      if (await this.options.store.replace({ ...cur.schedule, ...fields }, cur.revision).catch(() => false)) return;
    }
  }

  /** Runs started and not yet ended (tests, shutdown). */
  running(): number {
    return this.inFlight.size;
  }
}

/** A schedule as shown: with its next occurrence. */
export interface ScheduleView extends Schedule {
  nextRunAt?: Date;
}

/** `schedule set|list|remove`. */
export class ScheduleService {
  private readonly now: () => Date;

  constructor(
    private readonly store: ScheduleStore,
    now?: () => Date,
  ) {
    this.now = now ?? (() => new Date());
  }

  async set(req: { site: string; kind?: string; cron?: string; timezone?: string }): Promise<ScheduleView> {
    checkSiteId(req.site);
    const kind = checkKind(req.kind || 'snapshot');
    const cron = (req.cron || DEFAULT_CRON).trim();
    const timezone = req.timezone || DEFAULT_TIMEZONE;
    parseCron(cron, timezone);
    const schedule: Schedule = { site: req.site, kind, cron, timezone, updatedAt: this.now() };
    await this.store.put(schedule);
    return this.view(schedule);
  }

  async list(site?: string): Promise<ScheduleView[]> {
    const all = (await this.store.list()).map((s) => s.schedule).filter((s) => !site || s.site === site);
    return all.sort((a, b) => (a.site === b.site ? a.kind.localeCompare(b.kind) : a.site.localeCompare(b.site))).map((s) => this.view(s));
  }

  /** Removes a schedule; false when there was none. */
  remove(site: string, kind: string): Promise<boolean> {
    return this.store.remove(checkSiteId(site), checkKind(kind));
  }

  private view(s: Schedule): ScheduleView {
    let next: Date | undefined;
    try {
      const from = s.lastRunAt && s.lastRunAt > s.updatedAt ? s.lastRunAt : s.updatedAt;
      next = nextOccurrence(s, from > this.now() ? from : this.now());
    } catch {
      next = undefined;
    }
    return { ...s, ...(next ? { nextRunAt: next } : {}) };
  }
}
