import { describe, expect, it } from 'vitest';
import type { JobRecord } from '../../shared/jobs.js';
import { silentLogger } from '../../shared/logger.js';
import type { RunningJob } from './jobs.js';
import { latestDue, parseCron, Scheduler, ScheduleService, type Schedule, type ScheduleKind, type ScheduleStore, type StoredSchedule } from './schedules.js';

class MemoryScheduleStore implements ScheduleStore {
  readonly items = new Map<string, StoredSchedule>();
  private rev = 0;
  list(): Promise<StoredSchedule[]> {
    return Promise.resolve([...this.items.values()]);
  }
  get(site: string, kind: ScheduleKind): Promise<StoredSchedule | undefined> {
    return Promise.resolve(this.items.get(`${site}.${kind}`));
  }
  put(s: Schedule): Promise<void> {
    this.items.set(`${s.site}.${s.kind}`, { schedule: s, revision: ++this.rev });
    return Promise.resolve();
  }
  replace(s: Schedule, revision: number): Promise<boolean> {
    const cur = this.items.get(`${s.site}.${s.kind}`);
    if (!cur || cur.revision !== revision) return Promise.resolve(false);
    this.items.set(`${s.site}.${s.kind}`, { schedule: s, revision: ++this.rev });
    return Promise.resolve(true);
  }
  remove(site: string, kind: ScheduleKind): Promise<boolean> {
    return Promise.resolve(this.items.delete(`${site}.${kind}`));
  }
}

/** A job that ends when the test says so. */
function job(id: string): { job: RunningJob; finish: (phase?: JobRecord['phase']) => void } {
  let finish!: (phase?: JobRecord['phase']) => void;
  const done = new Promise<JobRecord>((resolve) => {
    finish = (phase = 'Completed') => resolve({ id, kind: 'snapshot', site: 's', phase, createdAt: new Date(), updatedAt: new Date(), step: 'seal', detail: {} });
  });
  return { job: { id, done, subscribe: () => () => undefined }, finish };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('schedules', () => {
  it('parses cron with a time zone and names what is wrong', () => {
    expect(() => parseCron('* * * * *', 'UTC')).not.toThrow();
    expect(() => parseCron('61 * * * *', 'UTC')).toThrow(/cron expression '61 \* \* \* \*' is not valid/);
    expect(() => parseCron('0 2 * * *', 'Nowhere/City')).toThrow(/unknown time zone 'Nowhere\/City'/);
    // 02:00 in Moscow is 23:00 UTC the day before.
    expect(latestDue({ cron: '0 2 * * *', timezone: 'Europe/Moscow' }, new Date('2026-11-20T00:00:00Z'), new Date('2026-11-21T00:00:00Z'))?.toISOString()).toBe('2026-11-20T23:00:00.000Z');
  });

  it('after downtime, missed runs happen once, not as a burst; then on time again', async () => {
    const store = new MemoryScheduleStore();
    let now = new Date('2026-11-21T10:00:30Z');
    const started: string[] = [];
    const jobs: ReturnType<typeof job>[] = [];
    const service = new ScheduleService(store, () => now);
    await service.set({ site: 's', cron: '* * * * *' });
    const scheduler = new Scheduler({
      store,
      logger: silentLogger(),
      now: () => now,
      runners: {
        snapshot: (site) => {
          started.push(`${site}@${now.toISOString()}`);
          const j = job(`j-${started.length}`);
          jobs.push(j);
          return Promise.resolve(j.job);
        },
      },
    });
    await scheduler.tick();
    expect(started).toEqual([]); // nothing due yet
    now = new Date('2026-11-21T10:47:05Z'); // the controller was down for 46 occurrences
    await scheduler.tick();
    await scheduler.tick();
    expect(started).toEqual(['s@2026-11-21T10:47:05.000Z']);
    expect((await store.get('s', 'snapshot'))?.schedule.lastRunAt?.toISOString()).toBe('2026-11-21T10:47:00.000Z');
    jobs[0]?.finish();
    await tick();
    await tick();
    now = new Date('2026-11-21T10:48:01Z');
    await scheduler.tick();
    for (let i = 0; i < 5; i++) await tick();
    expect(started).toHaveLength(2);
    const s = (await store.get('s', 'snapshot'))?.schedule;
    expect(s?.lastJobId).toBe('j-2');
  });

  it('an occurrence that comes while the previous run still goes is skipped, not queued', async () => {
    const store = new MemoryScheduleStore();
    let now = new Date('2026-11-21T10:00:30Z');
    await new ScheduleService(store, () => now).set({ site: 's', cron: '* * * * *' });
    const jobs: ReturnType<typeof job>[] = [];
    const scheduler = new Scheduler({
      store,
      logger: silentLogger(),
      now: () => now,
      runners: {
        snapshot: () => {
          const j = job(`j-${jobs.length + 1}`);
          jobs.push(j);
          return Promise.resolve(j.job);
        },
      },
    });
    now = new Date('2026-11-21T10:01:00Z');
    await scheduler.tick();
    for (let i = 0; i < 5; i++) await tick();
    expect(jobs).toHaveLength(1);
    now = new Date('2026-11-21T10:02:00Z');
    await scheduler.tick();
    expect(jobs).toHaveLength(1);
    expect((await store.get('s', 'snapshot'))?.schedule.lastOutcome).toMatch(/skipped: the previous run was still going/);
    jobs[0]?.finish('Failed');
    for (let i = 0; i < 5; i++) await tick();
    expect(scheduler.running()).toBe(0);
    now = new Date('2026-11-21T10:03:00Z');
    await scheduler.tick();
    expect(jobs).toHaveLength(2);
  });

  it('two schedulers (two controllers) on one store run an occurrence once', async () => {
    const store = new MemoryScheduleStore();
    let now = new Date('2026-11-21T10:00:30Z');
    await new ScheduleService(store, () => now).set({ site: 's', cron: '* * * * *' });
    let runs = 0;
    const make = () =>
      new Scheduler({
        store,
        logger: silentLogger(),
        now: () => now,
        runners: {
          snapshot: () => {
            runs += 1;
            return Promise.resolve(job(`j-${runs}`).job);
          },
        },
      });
    const [a, b] = [make(), make()];
    now = new Date('2026-11-21T10:01:00Z');
    await Promise.all([a.tick(), b.tick()]);
    expect(runs).toBe(1);
  });

  it('a runner that cannot start records why on the schedule', async () => {
    const store = new MemoryScheduleStore();
    let now = new Date('2026-11-21T10:00:30Z');
    await new ScheduleService(store, () => now).set({ site: 's', cron: '* * * * *' });
    const scheduler = new Scheduler({
      store,
      logger: silentLogger(),
      now: () => now,
      runners: { snapshot: () => Promise.reject(new Error("cannot start snapshot of site 's': prune job j-9 holds it")) },
    });
    now = new Date('2026-11-21T10:01:00Z');
    await scheduler.tick();
    for (let i = 0; i < 5; i++) await tick();
    expect((await store.get('s', 'snapshot'))?.schedule.lastOutcome).toBe("not started: cannot start snapshot of site 's': prune job j-9 holds it");
  });
});
