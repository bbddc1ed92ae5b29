/**
 * `ffkeeper migrate start`: a model migration (FindFace's procedure, reference 001) as one job of kind
 * `migrate`, holding the site's lease. Each step is a typed agent operation (shared/migration/ops.ts) and is
 * checked before the next begins:
 *
 *  1. plan — the preconditions of `migrate plan` must all hold;
 *  2. snapshot — the way back (galleries, database, photos);
 *  3. new shards — instance files, links and dirs on each shard's host; each file reads back;
 *  4. extraction-api — its face model switched (reads back) and the unit restarted (active);
 *  5. tnt_schema.lua — made by findface-security, written where the shards load it;
 *  6. new shards started — each answers on its port with its face galleries of the new model;
 *  (with `--regenerate-normalized`, a detector change: findface-security stopped, each face's normalized image
 *     made again from its source photo by the extraction-api's detector, page by page from the database's
 *     record ids, the images replaced kept aside until `migrate finish` — a rollback puts them back;)
 *  7. re-extraction — findface-security (the site's writer) stopped; every record of every gallery, batch by
 *     batch, each shard in parallel, into the new shards; the site stays readable on the old shards (sf-api
 *     runs on) meanwhile;
 *  8. switch — with nothing writing, the records a failed job's writers added or deleted while it waited
 *     caught up and the records counted on both sides; then sf-api stopped, pointed at the new shards and
 *     started (the time it was down is the site's read downtime); the old shards stopped and disabled
 *     (kept: the way back);
 *  9. the agents adopt the new shards (they back them up from now on); findface-security's migrate,
 *     create_groups and create_default_user, and its start; a snapshot of the migrated site.
 *
 * Resumable (`migrate resume JOB`): every step can be asked again and ends in the same state, and the
 * re-extraction goes on from the cursor each new shard keeps with its records (written in the same
 * transaction), so a finished batch is never extracted again. Faces whose image is missing or refused are
 * listed in the job's detail, the rest migrated.
 */
import { ConflictError, IllegalStateError, NotFoundError, ValidationError } from '../../../shared/errors.js';
import type { AgentEntry } from '../../../shared/fleet.js';
import { FINDFACE_SECURITY_ROLE } from '../../../shared/sync/native.js';
import { formatDuration } from '../../../shared/duration.js';
import { galleryModelOf } from '../../../shared/findface/models.js';
import { FACE_SOURCE_GALLERIES, type FailedFace, type MigrationOpResult } from '../../../shared/migration/ops.js';
import type { MigrationRequest } from '../../../shared/migration/survey.js';
import { deadlineFor, type AgentDeadlines, type DeadlineKind } from '../deadlines.js';
import type { JobRecord } from '../../../shared/jobs.js';
import type { JobContext, JobRunner, RunningJob } from '../jobs.js';
import type { SiteLeases } from '../leases.js';
import type { JobStore } from '../ports.js';
import { kindOfGallery, MIGRATE_BATCH, MIGRATE_WORKERS, type MigrationPlan } from './plan.js';
import { regenerates, type MigrationClient, type MigrationPlanner, type PlanMigrationArgs } from './planner.js';

/** Records one re-extraction call reads from an old shard. */
export const MIGRATE_RECORDS_PER_CALL = 240;
/** Faces one regeneration call makes normalized images for. */
export const REGENERATE_FACES_PER_CALL = 480;
/** Failed faces the job's detail keeps (the new shards keep them all). */
const MAX_FAILED_KEPT = 1000;
/** How long a started shard may take to answer on its port. */
const SHARD_ANSWER_MS = 60_000;

export const MIGRATION_STEPS = ['plan', 'snapshot', 'create-shards', 'extraction-model', 'tnt-schema', 'start-shards', 'regenerate', 'reextract', 'switch', 'adopt', 'security', 'snapshot-after'] as const;
export type MigrationStep = (typeof MIGRATION_STEPS)[number];

export interface ShardPair {
  host: string;
  from: string;
  to: string;
}

/** What a migrate job keeps in its detail: enough to resume it, and its result. */
export interface MigrationDetail {
  toModel: string;
  portOffset: number;
  fromModel?: string;
  /** The plan's facts the steps need. */
  shards?: ShardPair[];
  sfApi?: NonNullable<MigrationPlan['sfApi']>;
  extraction?: NonNullable<MigrationPlan['extraction']>;
  facesTotal?: number;
  /** The steps finished, in order. */
  done: MigrationStep[];
  snapshotId?: string;
  /** The first snapshot of the migrated site (it records the new model: a restore of an older one is refused). */
  snapshotAfterId?: string;
  /** Per new shard, per gallery: the cursor and counts the new shard reported last. */
  progress: Record<string, Record<string, { written: number; failed: number; done: boolean; face: boolean }>>;
  /** Images sent to the extraction-api by this job (all runs). */
  extracted: number;
  failed: FailedFace[];
  failedTotal: number;
  /** How long sf-api was stopped at the switch (the site's read downtime). */
  downtimeMs?: number;
  /** When findface-security was stopped for the re-extraction (cleared once it runs again), and how long it took no writes. */
  writersStoppedAt?: string;
  writesStoppedMs?: number;
  /** Records the new shards held that the old ones no longer did (deleted while a failed job waited), removed at the switch. */
  reconciled?: number;
  /** Per gallery: records in the old shards, records in the new shards, faces that failed. */
  counts?: Record<string, { old: number; new: number; failed: number }>;
  /** `--regenerate-normalized`: the hosts, the detector, per face gallery how far (record id cursor), and the faces that failed. */
  regenerate?: RegenerateDetail;
  /** The rollback job that undid this migration. */
  rolledBackBy?: string;
  /** The finish job that removed the old shards (no rollback after it). */
  finishedBy?: string;
}

export interface RegenerateDetail {
  dbHost?: string;
  filesHost?: string;
  /** The face detector the site had (the extraction-api's, before the migration); a rollback puts it back. */
  detector?: string;
  /** `--to-detector`: the face detector the extraction-api switches to with the model. */
  toDetector?: string;
  /** The detector that made the images (the extraction-api's answer). */
  usedDetector?: string;
  galleries: Record<string, { cursor: string; regenerated: number; failed: number; done: boolean }>;
  failed: FailedFace[];
}

/** What a finish job keeps in its detail. */
export interface FinishDetail {
  migration: string;
  removed: { host: string; shard: string; paths: string[]; bytes: number }[];
  /** The normalized images a regeneration replaced, removed. */
  normalizedRemoved?: { host: string; dir: string; files: number };
}

/** What a rollback job keeps in its detail. */
export interface RollbackDetail {
  migration: string;
  fromModel: string;
  toModel: string;
  done: string[];
  snapshotId?: string;
  snapshotAfterId?: string;
  downtimeMs?: number;
  /** Per gallery: records the new shards gained (or lost) after the switch. */
  writtenSinceSwitch?: Record<string, number>;
  /** Records written to the new shards after the switch, re-extracted into the old ones; faces that could not be. */
  carriedBack?: number;
  failed?: FailedFace[];
  /** The normalized images a regeneration replaced, put back. */
  normalizedRestored?: number;
}

export interface MigrationJobDeps {
  planner: Pick<MigrationPlanner, 'plan'>;
  client: MigrationClient;
  agentsOf(site: string): AgentEntry[];
  jobs: JobRunner;
  jobStore: JobStore;
  leases?: SiteLeases;
  deadlines: AgentDeadlines;
  /** A snapshot of the site, inside the job (its lease held); resolves with its id. */
  takeSnapshot(site: string, reason: string): Promise<string>;
  now?: () => number;
}

const JOB_KIND = 'migrate';

export class MigrationJobs {
  constructor(private readonly deps: MigrationJobDeps) {}

  /** Starts a migration job; refused (naming the holder) while another job holds the site. */
  async start(args: PlanMigrationArgs): Promise<RunningJob> {
    const { leases } = this.deps;
    const detail: MigrationDetail = { toModel: args.toModel, portOffset: args.portOffset ?? 0, done: [], progress: {}, extracted: 0, failed: [], failedTotal: 0, ...(regenerates(args) ? { regenerate: { galleries: {}, failed: [], ...(args.toDetector ? { toDetector: args.toDetector } : {}) } } : {}) };
    return this.deps.jobs.start(JOB_KIND, args.site, (ctx) => this.run(ctx), detail as unknown as Record<string, unknown>, leases ? leases.forJob(args.site, JOB_KIND, { wait: false }) : {});
  }

  /** Continues an interrupted or failed migration job where it stopped. */
  async resume(jobId: string): Promise<RunningJob> {
    const record = await this.deps.jobStore.get(jobId);
    if (!record) throw new NotFoundError(`job '${jobId}' not found`);
    if (record.kind !== JOB_KIND) throw new ValidationError(`job '${jobId}' is a ${record.kind} job, not a migration`, { field: 'job' });
    if (record.phase === 'Completed') throw new IllegalStateError(`migration job '${jobId}' already completed; nothing to resume`);
    if (this.deps.jobs.isRunning(jobId)) throw new ConflictError(`migration job '${jobId}' is still running`);
    const lease = await this.deps.leases?.acquire(record.site, JOB_KIND, jobId, { wait: false });
    try {
      return await this.deps.jobs.resume(record, async (ctx) => {
        try {
          await this.run(ctx);
        } finally {
          await lease?.release();
        }
      });
    } catch (err) {
      await lease?.release();
      throw err;
    }
  }

  private now(): number {
    return this.deps.now?.() ?? performance.now();
  }

  private async run(ctx: JobContext): Promise<void> {
    const d = ctx.detail as unknown as MigrationDetail;
    const site = ctx.site;
    const step = stepper(ctx, d.done);
    const call = this.caller(site);

    await step('plan', 'checking the preconditions (migrate plan)', async () => {
      const plan = await this.deps.planner.plan({ site, toModel: d.toModel, portOffset: d.portOffset, ...(d.regenerate ? { regenerateNormalized: true } : {}), ...(d.regenerate?.toDetector ? { toDetector: d.regenerate.toDetector } : {}) });
      const failed = plan.checks.filter((c) => !c.ok);
      if (failed.length > 0) throw new ValidationError(`site '${site}' is not ready to migrate to ${plan.toModel}: ${failed.map((c) => `${c.name}: ${c.detail}`).join('; ')}`, { field: 'site' });
      if (!plan.sfApi?.extractionApiUrl || !plan.extraction) throw new ValidationError(`site '${site}': sf-api names no extraction-api`, { field: 'site' });
      d.toModel = plan.toModel;
      d.portOffset = plan.portOffset;
      if (plan.fromModel) d.fromModel = plan.fromModel;
      d.shards = plan.shards.map((s) => ({ host: s.host, from: s.from.name, to: s.to.name }));
      d.sfApi = plan.sfApi;
      d.extraction = plan.extraction;
      d.facesTotal = plan.faces.total;
      if (d.regenerate && plan.regenerate) Object.assign(d.regenerate, plan.regenerate);
      return `${plan.faces.total} face(s) over ${plan.shards.length} shard(s): ${plan.shards.map((s) => `${s.from.name} → ${s.to.name}`).join(', ')}; ${plan.fromModel ?? '?'} → ${plan.toModel}`;
    });
    const shards = d.shards ?? [];
    const sfApi = d.sfApi as NonNullable<MigrationDetail['sfApi']>;
    const extraction = d.extraction as NonNullable<MigrationDetail['extraction']>;
    const from = d.fromModel ?? '';

    await step('snapshot', 'taking a snapshot of the site (the way back)', async () => {
      d.snapshotId = await this.deps.takeSnapshot(site, `before migrating to ${d.toModel}`);
      return `snapshot ${d.snapshotId}`;
    });

    await step('create-shards', `creating ${shards.length} new shard(s)`, async () => {
      const made: string[] = [];
      for (const s of shards) {
        const r = await call(s.host, { op: 'create-shard', shard: s.from, portOffset: d.portOffset }, 'checkMs', `create shard ${s.to}`);
        made.push(`${s.host} ${r.shard.name} (${r.shard.instanceFile}, port ${r.shard.listen.port}${r.shard.created ? '' : ', there already'})`);
      }
      return `created ${made.join('; ')}`;
    });

    const detectorSwitch = detectorEdit(d.regenerate, 'forward');
    await step('extraction-model', `switching findface-extraction-api to ${d.toModel}${detectorSwitch.toDetector ? ` and its face detector to ${detectorSwitch.toDetector}` : ''}`, async () => {
      const r = await call(extraction.host, { op: 'set-extraction-model', from, to: d.toModel, ...detectorSwitch }, 'checkMs', 'switch the extraction model');
      await call(extraction.host, { op: 'unit', action: 'restart', target: { kind: 'extraction-api' } }, 'unitControlMs', 'restart findface-extraction-api');
      const u = await call(extraction.host, { op: 'unit', action: 'status', target: { kind: 'extraction-api' } }, 'unitControlMs', 'check findface-extraction-api');
      if (!u.active) throw new IllegalStateError(`${u.unit} on ${extraction.host} is not active after its restart`);
      return `${r.edit.path}: ${r.edit.changed ? `face model${detectorSwitch.toDetector ? ' and detector' : ''} set` : 'already set'}; ${u.unit} restarted`;
    });

    await step('tnt-schema', 'regenerating tnt_schema.lua', () => this.tntSchema(site, shards));

    await step('start-shards', 'starting the new shards', async () => {
      const target = galleryModelOf(d.toModel);
      for (const s of shards) {
        await call(s.host, { op: 'unit', action: 'start', target: { kind: 'shard', shard: s.from, portOffset: d.portOffset } }, 'unitControlMs', `start ${s.to}`);
        const g = await this.answering(() => call(s.host, { op: 'shard-galleries', shard: s.from, portOffset: d.portOffset }, 'checkMs', `list the galleries of ${s.to}`));
        const wrong = g.galleries.galleries.filter((x) => kindOfGallery(x.model) === 'face' && x.model !== target);
        if (wrong.length > 0) throw new IllegalStateError(`${s.to} on ${s.host} holds ${wrong.map((x) => `${x.name} of model ${x.model}`).join(', ')}, not ${target}: tnt_schema.lua was not regenerated before it started`);
      }
      return `${shards.map((s) => s.to).join(', ')} answer`;
    });

    const security = (): string => this.securityHost(site);
    const writers = (action: 'stop' | 'start' | 'restart'): Promise<unknown> => this.writers(site, action);
    try {
      if (d.regenerate) {
        await step('regenerate', `making each face's normalized image again from its source photo (detector ${d.regenerate.toDetector ?? d.regenerate.detector ?? '?'})`, async () => {
          await writers('stop');
          d.writersStoppedAt ??= new Date().toISOString();
          ctx.message('findface-security stopped: the site is readable, not writable, while its normalized images are made again and its faces re-extracted');
          const r = await this.regenerateAll(ctx, d, call);
          const made = Object.values(r.galleries).reduce((n, g) => n + g.regenerated, 0);
          const failed = Object.values(r.galleries).reduce((n, g) => n + g.failed, 0);
          return `${made} normalized image(s) made again with ${r.usedDetector ?? '?'}, ${failed} could not be (those faces are re-extracted from the image they have)`;
        });
      }
      await step('reextract', `re-extracting ${d.facesTotal ?? '?'} face(s) with ${d.toModel}`, async () => {
        // The site stays readable (sf-api serves the old shards) but takes no writes: what is re-extracted stays true.
        await writers('stop');
        d.writersStoppedAt ??= new Date().toISOString();
        ctx.message('findface-security stopped: the site is readable, not writable, while its faces are re-extracted');
        await this.reextractAll(ctx, d, call);
        return `${sum(d, 'written', true)} face(s) re-extracted, ${d.failedTotal} failed; ${sum(d, 'written', false)} other record(s) copied`;
      });

      await step('switch', 'switching sf-api to the new shards', async () => {
        await writers('stop');
        // Nothing writes (findface-security is stopped), so the new shards are made complete while sf-api
        // still serves reads: what a failed job's writers did while it waited for its resume is caught up
        // (records added) and reconciled (records deleted), and the records counted on both sides.
        if (d.regenerate) await this.regenerateAll(ctx, d, call);
        await this.reextractAll(ctx, d, call);
        d.reconciled = await this.reconcile(d, call);
        d.counts = await this.counts(d, call);
        // sf-api down for its config edit and restart only.
        const t0 = this.now();
        await call(sfApi.host, { op: 'unit', action: 'stop', target: { kind: 'sf-api' } }, 'unitControlMs', 'stop findface-sf-api');
        try {
          const edit = await call(sfApi.host, { op: 'set-sf-api-shards', from: sfApi.shards, to: sfApi.newShards }, 'checkMs', 'point findface-sf-api at the new shards');
          ctx.message(`${edit.edit.path}: shards ${sfApi.newShards.join(', ')}`);
        } finally {
          // Never left down: on the new shards, or (the edit failed) on the old ones.
          await call(sfApi.host, { op: 'unit', action: 'start', target: { kind: 'sf-api' } }, 'unitControlMs', 'start findface-sf-api');
        }
        const u = await call(sfApi.host, { op: 'unit', action: 'status', target: { kind: 'sf-api' } }, 'unitControlMs', 'check findface-sf-api');
        d.downtimeMs = Math.round(this.now() - t0);
        if (!u.active) throw new IllegalStateError(`${u.unit} on ${sfApi.host} is not active after its start`);
        for (const s of shards) {
          await call(s.host, { op: 'unit', action: 'stop', target: { kind: 'shard', shard: s.from } }, 'unitControlMs', `stop ${s.from}`);
          await call(s.host, { op: 'unit', action: 'disable', target: { kind: 'shard', shard: s.from } }, 'unitControlMs', `disable ${s.from}`);
        }
        return `sf-api was down ${(d.downtimeMs / 1000).toFixed(1)} s; old shards stopped and disabled (kept)${d.reconciled ? `; ${d.reconciled} record(s) deleted meanwhile removed` : ''}`;
      });

      await step('adopt', 'the agents serve the new shards', () => this.adopt(site, shards, d.portOffset, false));

      await step('security', "re-creating findface-security's structure, groups and first user; starting it", async () => {
        await call(security(), { op: 'security-setup' }, 'transferMs', 'findface-security migrate, create_groups, create_default_user');
        await writers('restart');
        if (d.writersStoppedAt) d.writesStoppedMs = Date.now() - Date.parse(d.writersStoppedAt);
        delete d.writersStoppedAt;
        return `findface-security migrate, create_groups, create_default_user run; findface-security started (it took no writes for ${formatDuration(d.writesStoppedMs ?? 0)})`;
      });
    } catch (err) {
      // A failed job does not leave the site without its writers: they run again on the shards sf-api serves.
      if (d.writersStoppedAt) {
        await writers('start').then(
          () => ctx.message('findface-security started again (the job failed); a resume stops it again and catches up what it wrote'),
          (e: unknown) => ctx.message(`warning: could not start findface-security again: ${(e as Error).message}`),
        );
        delete d.writersStoppedAt;
        await ctx.save().catch(() => undefined);
      }
      throw err;
    }
    await step('snapshot-after', 'taking a snapshot of the migrated site', async () => {
      d.snapshotAfterId = await this.deps.takeSnapshot(site, `after migrating to ${d.toModel}`);
      return `snapshot ${d.snapshotAfterId}`;
    });
    const short = Object.entries(d.counts ?? {}).filter(([, c]) => c.new + c.failed !== c.old);
    if (short.length > 0) ctx.message(`warning: record counts differ: ${short.map(([g, c]) => `${g}: ${c.old} old, ${c.new} new, ${c.failed} failed`).join('; ')}`);
    await ctx.save();
  }

  /**
   * After a controller died in a migration's re-extraction (its job marked failed by the next sweep):
   * findface-security, which the job had stopped, is started again — the site is not left without its
   * writer until someone resumes the job. Returns the sites whose writer was started.
   */
  async writersBack(orphans: readonly JobRecord[], log: (msg: string) => void = () => undefined): Promise<string[]> {
    const started: string[] = [];
    for (const j of orphans) {
      const d = j.detail as Partial<MigrationDetail>;
      if (j.kind !== JOB_KIND || !d.writersStoppedAt) continue;
      try {
        await this.caller(j.site)(this.securityHost(j.site), { op: 'unit', action: 'start', target: { kind: 'findface-security' } }, 'unitControlMs', 'start findface-security');
        const cur = await this.deps.jobStore.get(j.id);
        if (cur) {
          const { writersStoppedAt: _stopped, ...rest } = cur.detail as Partial<MigrationDetail> & Record<string, unknown>;
          await this.deps.jobStore.put({ ...cur, detail: rest });
        }
        started.push(j.site);
        log(`started findface-security of site '${j.site}' again: migration job ${j.id} had stopped it when its controller went away (resume it with: ffkeeper migrate resume ${j.id})`);
      } catch (err) {
        log(`could not start findface-security of site '${j.site}' again after migration job ${j.id} lost its controller: ${(err as Error).message}`);
      }
    }
    return started;
  }

  /** tnt_schema.lua made by findface-security (from the extraction-api's models) and written on each shard host. */
  private async tntSchema(site: string, shards: readonly ShardPair[]): Promise<string> {
    const call = this.caller(site);
    const { text } = await call(this.securityHost(site), { op: 'make-tnt-schema' }, 'unitControlMs', 'findface-security make_tnt_schema');
    const written: string[] = [];
    for (const host of new Set(shards.map((s) => s.host))) {
      const r = await call(host, { op: 'write-tnt-schema', text }, 'checkMs', 'write tnt_schema.lua');
      written.push(`${host} ${r.edit.path}${r.edit.changed ? '' : ' (unchanged)'}`);
    }
    return `tnt_schema.lua written: ${written.join(', ')}`;
  }

  /**
   * `migrate rollback`: the site back on its old shards and model, as the newest migration of the site left
   * them (never deleted): a snapshot of the migrated site first; findface-security and sf-api stopped; sf-api's
   * shard list and the extraction-api's model put back (each read back), the extraction-api restarted;
   * tnt_schema.lua made again; the old shards enabled, started and answering with the old model; the records
   * written to the new shards after the switch re-extracted with the old model into the old shards; the new
   * shards stopped and disabled (kept); the agents serving the old shards; sf-api and findface-security
   * started; a snapshot of the site as it is again. Records deleted after the switch are not deleted from
   * the old shards (they come back).
   */
  async rollback(site: string): Promise<RunningJob> {
    const newest = await this.newestMigration(site);
    const last = newest?.job;
    const m = newest?.m;
    if (!last || !m?.done.includes('create-shards') || !m.shards || !m.sfApi || !m.extraction) throw new IllegalStateError(`site '${site}' has no migration to roll back (no migrate job that created new shards)`);
    if (this.deps.jobs.isRunning(last.id)) throw new ConflictError(`migration job '${last.id}' of site '${site}' is still running`);
    if (m.rolledBackBy) throw new IllegalStateError(`migration job '${last.id}' of site '${site}' was rolled back already (job ${m.rolledBackBy})`);
    if (m.finishedBy) throw new IllegalStateError(`migration job '${last.id}' of site '${site}' was finished (job ${m.finishedBy}): its old shards are removed, there is nothing to roll back to; restore a snapshot taken before it instead`);
    const { leases } = this.deps;
    const detail: RollbackDetail = { migration: last.id, fromModel: m.fromModel ?? '', toModel: m.toModel, done: [] };
    return this.deps.jobs.start('migrate-rollback', site, (ctx) => this.runRollback(ctx, last.id, m), detail as unknown as Record<string, unknown>, leases ? leases.forJob(site, 'migrate-rollback', { wait: false }) : {});
  }

  private async runRollback(ctx: JobContext, migrationJob: string, m: MigrationDetail): Promise<void> {
    const d = ctx.detail as unknown as RollbackDetail;
    const site = ctx.site;
    const call = this.caller(site);
    const shards = m.shards ?? [];
    const sfApi = m.sfApi as NonNullable<MigrationDetail['sfApi']>;
    const extraction = m.extraction as NonNullable<MigrationDetail['extraction']>;
    // A rollback is not resumed: its steps run each time.
    const step = stepper(ctx, d.done, { skipDone: false });
    ctx.message(`rolling back migration ${migrationJob}: ${m.toModel} → ${m.fromModel ?? '?'}; shards ${shards.map((s) => `${s.to} → ${s.from}`).join(', ')}`);
    await step('snapshot', 'taking a snapshot of the migrated site', async () => {
      d.snapshotId = await this.deps.takeSnapshot(site, `before rolling back migration ${migrationJob}`);
      return `snapshot ${d.snapshotId}`;
    });
    const writers = (action: 'stop' | 'start' | 'restart'): Promise<unknown> => this.writers(site, action);
    const t0 = this.now();
    await writers('stop');
    try {
      await step('stop', 'stopping findface-security and sf-api', async () => {
        await call(sfApi.host, { op: 'unit', action: 'stop', target: { kind: 'sf-api' } }, 'unitControlMs', 'stop findface-sf-api');
        // What the new shards got after the switch, which the old ones do not hold.
        const now: Record<string, number> = {};
        for (const s of shards) {
          const neu = await call(s.host, { op: 'shard-galleries', shard: s.from, portOffset: m.portOffset }, 'checkMs', `count ${s.to}`).catch(() => undefined);
          for (const g of neu?.galleries.galleries ?? []) now[g.name] = (now[g.name] ?? 0) + g.count;
        }
        const since = Object.entries(now).map(([g, n]) => [g, n - (m.counts?.[g]?.new ?? n)] as const).filter(([, n]) => n !== 0);
        d.writtenSinceSwitch = Object.fromEntries(since);
        const grown = since.length > 0 ? `; records the new shards gained since the switch (carried back below): ${since.map(([g, n]) => `${g} ${n > 0 ? '+' : ''}${n}`).join(', ')}` : '';
        return `findface-security and sf-api stopped${grown}`;
      });
      await step('configs', 'sf-api and the extraction-api back to the old shards and model', async () => {
        const sf = await call(sfApi.host, { op: 'set-sf-api-shards', from: sfApi.newShards, to: sfApi.shards }, 'checkMs', 'point findface-sf-api at the old shards');
        const back = detectorEdit(m.regenerate, 'back');
        const ex = await call(extraction.host, { op: 'set-extraction-model', from: m.toModel, to: m.fromModel ?? '', ...back }, 'checkMs', 'switch the extraction model back');
        await call(extraction.host, { op: 'unit', action: 'restart', target: { kind: 'extraction-api' } }, 'unitControlMs', 'restart findface-extraction-api');
        return `${sf.edit.path}: ${sfApi.shards.join(', ')}; ${ex.edit.path}: face ${m.fromModel ?? '?'}${back.toDetector ? `, detector ${back.toDetector}` : ''}; extraction-api restarted`;
      });
      const regen = m.regenerate;
      if (regen?.filesHost) {
        await step('normalized', 'the normalized images the migration replaced put back', async () => {
          const r = await call(regen.filesHost as string, { op: 'normalized-aside', migration: migrationJob, action: 'restore' }, 'transferMs', 'put the replaced normalized images back');
          d.normalizedRestored = r.files;
          return `${r.files} normalized image(s) put back from ${r.dir}`;
        });
      }
      await step('tnt-schema', 'regenerating tnt_schema.lua', () => this.tntSchema(site, shards));
      await step('shards', 'the old shards started again', async () => {
        const want = galleryModelOf(m.fromModel ?? '');
        for (const s of shards) {
          await call(s.host, { op: 'unit', action: 'enable', target: { kind: 'shard', shard: s.from } }, 'unitControlMs', `enable ${s.from}`);
          await call(s.host, { op: 'unit', action: 'start', target: { kind: 'shard', shard: s.from } }, 'unitControlMs', `start ${s.from}`);
          const g = await this.answering(() => call(s.host, { op: 'shard-galleries', shard: s.from }, 'checkMs', `list the galleries of ${s.from}`));
          const wrong = g.galleries.galleries.filter((x) => kindOfGallery(x.model) === 'face' && x.model !== want);
          if (wrong.length > 0) throw new IllegalStateError(`${s.from} on ${s.host} holds ${wrong.map((x) => `${x.name} of model ${x.model}`).join(', ')}, not ${want}`);
        }
        return `${shards.map((s) => s.from).join(', ')} answer with ${want}`;
      });
      await step('carry-back', 'records written since the switch: re-extracted with the old model into the old shards', async () => {
        d.carriedBack = 0;
        d.failed = [];
        for (const s of shards) {
          const { galleries } = await call(s.host, { op: 'shard-galleries', shard: s.from, portOffset: m.portOffset }, 'checkMs', `list the galleries of ${s.to}`);
          for (const g of galleries.galleries) {
            for (;;) {
              const { batch } = await call(
                s.host,
                { op: 'reextract', migration: ctx.id, shard: s.from, portOffset: m.portOffset, gallery: g.name, toModel: m.fromModel ?? '', limit: MIGRATE_RECORDS_PER_CALL, extractionApiUrl: sfApi.extractionApiUrl as string, normalizedUrl: sfApi.normalizedUrl, batchSize: MIGRATE_BATCH, workers: MIGRATE_WORKERS, reverse: true },
                'transferMs',
                `carry back a batch of ${s.to} ${g.name}`,
              );
              d.carriedBack += batch.written;
              for (const f of batch.failed) if (d.failed.length < MAX_FAILED_KEPT) d.failed.push(f);
              if (batch.done) break;
            }
          }
        }
        await ctx.save();
        return `${d.carriedBack} record(s) carried back${d.failed.length > 0 ? `, ${d.failed.length} face(s) could not be` : ''}`;
      });
      await step('retire-new', 'the new shards stopped and disabled (kept)', async () => {
        for (const s of shards) {
          await call(s.host, { op: 'unit', action: 'stop', target: { kind: 'shard', shard: s.from, portOffset: m.portOffset } }, 'unitControlMs', `stop ${s.to}`);
          await call(s.host, { op: 'unit', action: 'disable', target: { kind: 'shard', shard: s.from, portOffset: m.portOffset } }, 'unitControlMs', `disable ${s.to}`);
        }
        return `${shards.map((s) => s.to).join(', ')} stopped and disabled`;
      });
      await step('adopt', 'the agents serve the old shards', () => this.adopt(site, shards, m.portOffset, true));
    } finally {
      // Never left down, however far the rollback got.
      await call(sfApi.host, { op: 'unit', action: 'start', target: { kind: 'sf-api' } }, 'unitControlMs', 'start findface-sf-api').catch((e: unknown) => ctx.message(`warning: could not start findface-sf-api: ${(e as Error).message}`));
      await writers('start').catch((e: unknown) => ctx.message(`warning: could not start findface-security: ${(e as Error).message}`));
      d.downtimeMs = Math.round(this.now() - t0);
      await ctx.save().catch(() => undefined);
    }
    const u = await call(sfApi.host, { op: 'unit', action: 'status', target: { kind: 'sf-api' } }, 'unitControlMs', 'check findface-sf-api');
    if (!u.active) throw new IllegalStateError(`${u.unit} on ${sfApi.host} is not active after its start`);
    await step('snapshot-after', 'taking a snapshot of the site as it is again', async () => {
      d.snapshotAfterId = await this.deps.takeSnapshot(site, `after rolling back migration ${migrationJob}`);
      return `snapshot ${d.snapshotAfterId}`;
    });
    // The migration job remembers it was rolled back (a second rollback is refused).
    const record = await this.deps.jobStore.get(migrationJob);
    if (record) await this.deps.jobStore.put({ ...record, detail: { ...record.detail, rolledBackBy: ctx.id } });
  }

  /**
   * `migrate finish`: removes the old shards of the site's newest migration, which completed and was not
   * rolled back — their instance files, links and data directories (each agent checks it no longer serves
   * the shard and its unit is stopped). No rollback after it.
   */
  async finish(site: string): Promise<RunningJob> {
    const newest = await this.newestMigration(site);
    if (!newest) throw new IllegalStateError(`site '${site}' has no migration to finish`);
    const { job: last, m } = newest;
    if (last.phase !== 'Completed') throw new IllegalStateError(`the newest migration of site '${site}' (job ${last.id}) is ${last.phase}, not Completed: resume it (ffkeeper migrate resume ${last.id}) or roll it back first`);
    if (m.rolledBackBy) throw new IllegalStateError(`the newest migration of site '${site}' (job ${last.id}) was rolled back (job ${m.rolledBackBy}): nothing to finish`);
    if (m.finishedBy) throw new IllegalStateError(`migration job '${last.id}' of site '${site}' was finished already (job ${m.finishedBy})`);
    const detail: FinishDetail = { migration: last.id, removed: [] };
    const { leases } = this.deps;
    return this.deps.jobs.start(
      'migrate-finish',
      site,
      async (ctx) => {
        const d = ctx.detail as unknown as FinishDetail;
        const call = this.caller(site);
        ctx.step('remove', `removing the old shards of migration ${last.id}: ${(m.shards ?? []).map((s) => s.from).join(', ')}`);
        try {
          for (const s of m.shards ?? []) {
            const r = await call(s.host, { op: 'remove-shard', shard: s.from }, 'checkMs', `remove ${s.from}`);
            d.removed.push({ host: s.host, shard: s.from, paths: r.removed, bytes: r.bytes });
            ctx.message(`${s.host} ${s.from}: removed ${r.removed.join(', ') || 'nothing (gone already)'}`);
          }
          if (m.regenerate?.filesHost) {
            const r = await call(m.regenerate.filesHost, { op: 'normalized-aside', migration: last.id, action: 'remove' }, 'transferMs', 'remove the replaced normalized images');
            d.normalizedRemoved = { host: m.regenerate.filesHost, dir: r.dir, files: r.files };
            ctx.message(`${m.regenerate.filesHost}: the ${r.files} normalized image(s) the regeneration replaced removed (${r.dir})`);
          }
        } finally {
          // Marked as soon as anything is gone: a rollback to half-removed shards must not be tried.
          const record = await this.deps.jobStore.get(last.id);
          if (record && d.removed.length > 0) await this.deps.jobStore.put({ ...record, detail: { ...record.detail, finishedBy: ctx.id } });
          await ctx.save();
        }
      },
      detail as unknown as Record<string, unknown>,
      leases ? leases.forJob(site, 'migrate-finish', { wait: false }) : {},
    );
  }

  /** The agent calls of a job on `site`: each names its operation, host and deadline. */
  private caller(site: string): CallFn {
    return async (host, req, kind, what) => {
      const a = this.deps.agentsOf(site).find((x) => x.description.host === host);
      if (!a) throw new NotFoundError(`site '${site}' has no agent on host '${host}'`);
      if (a.status !== 'online') throw new IllegalStateError(`agent ${site}/${host} is ${a.status}`);
      const r = await this.deps.client.migration(a.description.grpcAddress, req, deadlineFor(this.deps.deadlines, kind, `${what} on ${site}/${host}`));
      const asked = (req as { op: string }).op;
      if (r.op !== asked) throw new IllegalStateError(`agent ${site}/${host} answered ${r.op} to ${asked}`);
      return r as never;
    };
  }

  private securityHost(site: string): string {
    const a = this.deps.agentsOf(site).find((x) => x.status === 'online' && x.description.roles.includes(FINDFACE_SECURITY_ROLE));
    if (!a) throw new IllegalStateError(`no online agent of site '${site}' runs findface-security (role '${FINDFACE_SECURITY_ROLE}')`);
    return a.description.host;
  }

  /** findface-security (the site's writer) stopped or started through the agent that runs it. */
  private writers(site: string, action: 'stop' | 'start' | 'restart'): Promise<unknown> {
    return this.caller(site)(this.securityHost(site), { op: 'unit', action, target: { kind: 'findface-security' } }, 'unitControlMs', `${action} findface-security`);
  }

  /** Each host's agent serves the new shards (`undo`: the old ones again); resolves once they describe them. */
  private async adopt(site: string, shards: readonly ShardPair[], portOffset: number, undo: boolean): Promise<string> {
    const call = this.caller(site);
    const byHost = new Map<string, string[]>();
    for (const s of shards) byHost.set(s.host, [...(byHost.get(s.host) ?? []), s.from]);
    for (const [host, names] of byHost) await call(host, { op: 'adopt', shards: names, portOffset, undo }, 'checkMs', undo ? `serve ${names.join(', ')} again` : `adopt ${names.join(', ')}'s new shards`);
    const served = shards.map((s) => ({ host: s.host, name: undo ? s.from : s.to }));
    await this.serving(site, served);
    return `agents serve ${served.map((s) => `${s.host} ${s.name}`).join(', ')}`;
  }

  /** The site's newest migrate job and its detail. */
  private async newestMigration(site: string): Promise<{ job: JobRecord; m: MigrationDetail } | undefined> {
    const job = (await this.deps.jobStore.list({ site })).filter((j) => j.kind === JOB_KIND).sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime())[0];
    return job ? { job, m: job.detail as unknown as MigrationDetail } : undefined;
  }

  /** Waits until each host's agent is online again and describes the shard it now serves. */
  private async serving(site: string, want: readonly { host: string; name: string }[]): Promise<void> {
    const until = this.now() + this.deps.deadlines.agentReturnMs;
    for (;;) {
      const agents = this.deps.agentsOf(site);
      const missing = want.filter((w) => !agents.some((a) => a.status === 'online' && a.description.host === w.host && a.description.components.some((c) => c.kind === 'tarantool' && c.name === w.name)));
      if (missing.length === 0) return;
      if (this.now() > until) throw new IllegalStateError(`agents did not come back serving ${missing.map((m) => `${m.host} ${m.name}`).join(', ')} within ${Math.round(this.deps.deadlines.agentReturnMs / 1000)} s (agents.deadlines.agentReturnMs)`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }

  /** Waits for a just-started shard to answer (its unit may return before it listens). */
  private async answering<T>(ask: () => Promise<T>): Promise<T> {
    const until = this.now() + SHARD_ANSWER_MS;
    for (;;) {
      try {
        return await ask();
      } catch (err) {
        if (this.now() > until) throw err;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }

  /** Every gallery of every shard, batch by batch from each new shard's cursor, the shards in parallel. */
  private async reextractAll(ctx: JobContext, d: MigrationDetail, call: CallFn): Promise<void> {
    const sfApi = d.sfApi as NonNullable<MigrationDetail['sfApi']>;
    const report = this.progressOf(ctx, 'faces', d.facesTotal ?? 0, () => sum(d, 'written', true) + d.failedTotal);
    // One shard failing stops the others at their next batch: none goes on behind a failed job's back.
    let stopped = false;
    const results = await Promise.allSettled(
      (d.shards ?? []).map(async (s) => {
        const { galleries } = await call(s.host, { op: 'shard-galleries', shard: s.from }, 'checkMs', `list the galleries of ${s.from}`);
        for (const g of galleries.galleries) {
          const face = kindOfGallery(g.model) === 'face';
          for (;;) {
            ctx.signal.throwIfAborted();
            if (stopped) return;
            const { batch } = await call(
              s.host,
              {
                op: 'reextract',
                migration: ctx.id,
                shard: s.from,
                portOffset: d.portOffset,
                gallery: g.name,
                toModel: d.toModel,
                limit: MIGRATE_RECORDS_PER_CALL,
                extractionApiUrl: sfApi.extractionApiUrl as string,
                normalizedUrl: sfApi.normalizedUrl,
                batchSize: MIGRATE_BATCH,
                workers: MIGRATE_WORKERS,
                reverse: false,
              },
              'transferMs',
              `re-extract a batch of ${s.from} ${g.name}`,
            );
            const p = ((d.progress[s.to] ??= {})[g.name] ??= { written: 0, failed: 0, done: false, face });
            p.written += batch.written;
            p.failed += batch.failed.length;
            p.done = batch.done;
            d.extracted += batch.extracted;
            d.failedTotal += batch.failed.length;
            for (const f of batch.failed) if (d.failed.length < MAX_FAILED_KEPT) d.failed.push(f);
            await ctx.save();
            report();
            if (batch.done) break;
          }
        }
      }).map((p) =>
        p.catch((err: unknown) => {
          stopped = true;
          throw err;
        }),
      ),
    );
    const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failure) throw failure.reason;
    // The new shards' own count of what this migration wrote (a batch a killed agent wrote but never reported is in it).
    for (const s of d.shards ?? []) {
      const { progress } = await call(s.host, { op: 'migration-progress', migration: ctx.id, shard: s.from, portOffset: d.portOffset }, 'checkMs', `read the migration progress of ${s.to}`);
      for (const [gallery, g] of Object.entries(progress.galleries)) {
        const p = ((d.progress[s.to] ??= {})[gallery] ??= { written: 0, failed: 0, done: false, face: true });
        Object.assign(p, { written: g.written, failed: g.failed, done: g.done });
      }
      const kept = new Set(d.failed.map((f) => `${f.gallery}\0${f.id}`));
      for (const f of progress.failed) if (!kept.has(`${f.gallery}\0${f.id}`) && d.failed.length < MAX_FAILED_KEPT) d.failed.push(f);
    }
    d.failedTotal = Object.values(d.progress).reduce((n, gs) => n + Object.values(gs).reduce((m, g) => m + g.failed, 0), 0);
    await ctx.save();
    report();
  }

  /**
   * Each face gallery's faces, page by page from the cursor: their paths read from findface-security's
   * database, their normalized images made again from their source photos on the host of the upload
   * directories. A page asked again (after a kill) makes the same images and keeps the first images aside.
   */
  private async regenerateAll(ctx: JobContext, d: MigrationDetail, call: CallFn): Promise<RegenerateDetail> {
    const r = d.regenerate as RegenerateDetail;
    const url = d.sfApi?.extractionApiUrl;
    if (!r.dbHost || !r.filesHost || !url) throw new IllegalStateError('the plan named no agent for the database, the upload directories or no extraction-api: cannot regenerate normalized images');
    const progress = this.progressOf(ctx, 'normalized', d.facesTotal ?? 0, () => Object.values(r.galleries).reduce((n, g) => n + g.regenerated + g.failed, 0));
    for (const gallery of FACE_SOURCE_GALLERIES) {
      const g = (r.galleries[gallery] ??= { cursor: '', regenerated: 0, failed: 0, done: false });
      for (;;) {
        ctx.signal.throwIfAborted();
        const page = await call(r.dbHost, { op: 'face-sources', gallery, after: g.cursor, limit: REGENERATE_FACES_PER_CALL }, 'checkMs', `read the source photos of ${gallery}`);
        const last = page.faces[page.faces.length - 1];
        if (last) {
          const out = await call(r.filesHost, { op: 'regenerate', migration: ctx.id, faces: page.faces, extractionApiUrl: url, batchSize: MIGRATE_BATCH, workers: MIGRATE_WORKERS }, 'transferMs', `make ${page.faces.length} normalized image(s) of ${gallery} again`);
          if (out.detector) r.usedDetector = out.detector;
          g.regenerated += out.regenerated;
          g.failed += out.failed.length;
          const listed = new Set(r.failed.map((f) => `${f.gallery}\0${f.id}`));
          for (const f of out.failed) if (!listed.has(`${f.gallery}\0${f.id}`) && r.failed.length < MAX_FAILED_KEPT) r.failed.push(f);
          g.cursor = last.id;
        }
        g.done = page.done;
        await ctx.save();
        progress();
        if (page.done) break;
      }
    }
    return r;
  }

  /** Reports `component`'s progress (`done()` of `total`) with an ETA from the rate since this call. */
  private progressOf(ctx: JobContext, component: string, total: number, done: () => number): () => void {
    const t0 = this.now();
    const atStart = done();
    return () => {
      const n = done();
      const rate = (n - atStart) / Math.max(0.001, (this.now() - t0) / 1000);
      ctx.progress({ component, bytesDone: 0, bytesTotal: 0, filesDone: n, filesTotal: Math.max(total, n), etaSeconds: rate > 0 ? Math.max(0, total - n) / rate : 0 });
    };
  }

  /** Removes from each new shard what its old shard no longer holds. */
  private async reconcile(d: MigrationDetail, call: CallFn): Promise<number> {
    let removed = 0;
    for (const s of d.shards ?? []) {
      for (const gallery of Object.keys(d.progress[s.to] ?? {})) {
        const r = await call(s.host, { op: 'reconcile', shard: s.from, portOffset: d.portOffset, gallery }, 'transferMs', `reconcile ${s.to} ${gallery}`);
        removed += r.removed;
      }
    }
    return removed;
  }

  /** Records per gallery in the old shards and in the new ones (nothing writes: sf-api is stopped), and the faces that failed. */
  private async counts(d: MigrationDetail, call: CallFn): Promise<Record<string, { old: number; new: number; failed: number }>> {
    const out: Record<string, { old: number; new: number; failed: number }> = {};
    for (const s of d.shards ?? []) {
      const [old, neu] = await Promise.all([
        call(s.host, { op: 'shard-galleries', shard: s.from }, 'checkMs', `count ${s.from}`),
        call(s.host, { op: 'shard-galleries', shard: s.from, portOffset: d.portOffset }, 'checkMs', `count ${s.to}`),
      ]);
      for (const g of old.galleries.galleries) (out[g.name] ??= { old: 0, new: 0, failed: 0 }).old += g.count;
      for (const g of neu.galleries.galleries) (out[g.name] ??= { old: 0, new: 0, failed: 0 }).new += g.count;
      for (const [name, p] of Object.entries(d.progress[s.to] ?? {})) (out[name] ??= { old: 0, new: 0, failed: 0 }).failed += p.failed;
    }
    return out;
  }
}

type CallFn = <K extends MigrationOpResult['op']>(host: string, req: Extract<MigrationRequest, { op: K }>, kind: DeadlineKind, what: string) => Promise<Extract<MigrationOpResult, { op: K }>>;

/**
 * Runs a job's steps: each announced, its result said, recorded in `done` and saved. With `skipDone` (a
 * resumable job) a step recorded already is passed over.
 */
function stepper<S extends string>(ctx: JobContext, done: S[], o: { skipDone: boolean } = { skipDone: true }): (name: S, title: string, work: () => Promise<string | void>) => Promise<void> {
  return async (name, title, work) => {
    if (o.skipDone && done.includes(name)) return ctx.message(`${title}: done before`);
    ctx.step(name, title);
    const said = await work();
    if (said) ctx.message(said);
    done.push(name);
    await ctx.save();
  };
}


/** The detector part of the extraction-api edit: to `--to-detector` (forward) or back to the site's own; none without a switch. */
function detectorEdit(r: RegenerateDetail | undefined, way: 'forward' | 'back'): { fromDetector?: string; toDetector?: string } {
  if (!r?.toDetector || !r.detector) return {};
  return way === 'forward' ? { fromDetector: r.detector, toDetector: r.toDetector } : { fromDetector: r.toDetector, toDetector: r.detector };
}

function sum(d: MigrationDetail, field: 'written' | 'failed', face: boolean): number {
  return Object.values(d.progress).reduce((n, gs) => n + Object.values(gs).reduce((m, g) => m + (g.face === face ? g[field] : 0), 0), 0);
}
