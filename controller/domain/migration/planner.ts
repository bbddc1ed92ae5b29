/**
 * `ffkeeper migrate plan`: asks every online agent of the site for its survey (shards, sf-api,
 * extraction-api), has the agent holding the upload directories extract a sample of normalized images
 * with the site's extraction-api, finds the newest verified snapshot, and builds the plan (plan.ts).
 * Changes nothing on the site.
 */
import { NotFoundError } from '../../../shared/errors.js';
import type { AgentEntry } from '../../../shared/fleet.js';
import { checkDetectorFile } from '../../../shared/findface/extraction-api-ini.js';
import { parseModelFile } from '../../../shared/findface/models.js';
import { parseSfApiConfig } from '../../../shared/findface/sf-api-ini.js';
import type { ExtractionSample, MigrationRequest, MigrationResult, MigrationSurvey } from '../../../shared/migration/survey.js';
import type { AgentDeadlines } from '../deadlines.js';
import type { CallDeadline, CatalogStore, VerificationStore } from '../ports.js';
import { buildMigrationPlan, defaultPortOffset, MIGRATE_BATCH, MIGRATE_WORKERS, type MigrationPlan } from './plan.js';

/** Multiples of the default port offset tried when the default one's new shards exist already. */
const MAX_OFFSET_STEPS = 9;

/** Normalized images the extraction sample sends. */
export const SAMPLE_FACES = 128;

/** The agent call (controller/transport/grpc-agent-client.ts implements it). */
export interface MigrationClient {
  migration(address: string, request: MigrationRequest, options: CallDeadline): Promise<MigrationResult>;
}

export interface MigrationPlannerDeps {
  agentsOf(site: string): AgentEntry[];
  client: MigrationClient;
  catalog: CatalogStore;
  verifications: VerificationStore;
  deadlines: Pick<AgentDeadlines, 'checkMs'>;
  now?: () => Date;
}

export interface PlanMigrationArgs {
  site: string;
  toModel: string;
  /** 0 or absent: defaultPortOffset. */
  portOffset?: number;
  /** A detector change (reference 003): normalized images made again from source photos before the re-extraction. */
  regenerateNormalized?: boolean;
  /** The face detector the extraction-api switches to with the model (implies `regenerateNormalized`). */
  toDetector?: string;
}

/** Whether a migration makes normalized images again: asked for, or implied by a detector switch. */
export function regenerates(args: Pick<PlanMigrationArgs, 'regenerateNormalized' | 'toDetector'>): boolean {
  return Boolean(args.regenerateNormalized || args.toDetector);
}

export class MigrationPlanner {
  constructor(private readonly deps: MigrationPlannerDeps) {}

  async plan(args: PlanMigrationArgs): Promise<MigrationPlan> {
    const to = parseModelFile(args.toModel);
    if (args.toDetector) checkDetectorFile(args.toDetector);
    const agents = this.deps.agentsOf(args.site);
    if (agents.length === 0) throw new NotFoundError(`site '${args.site}' has no agents`);
    const online = agents.filter((a) => a.status === 'online');
    const shards = agents.reduce((n, a) => n + a.description.components.filter((c) => c.kind === 'tarantool').length, 0);
    const call = (a: AgentEntry, request: MigrationRequest, what: string): Promise<MigrationResult> =>
      this.deps.client.migration(a.description.grpcAddress, request, { timeoutMs: this.deps.deadlines.checkMs, operation: `${what} on ${args.site}/${a.description.host}`, setting: 'agents.deadlines.checkMs' });
    const surveyAt = (portOffset: number): Promise<MigrationSurvey[]> =>
      Promise.all(
        online.map(async (a) => {
          const r = await call(a, { op: 'survey', toModel: to.file, ...(args.toDetector ? { toDetector: args.toDetector } : {}), portOffset }, 'migration survey');
          return r.op === 'survey' ? r.survey : ({ host: a.description.host, shards: [] } satisfies MigrationSurvey);
        }),
      );
    // No offset asked: the default one, or (its new shards' files there: a migration rolled back before) the
    // next multiple of it whose new shards are clear.
    const base = defaultPortOffset(shards);
    let portOffset = args.portOffset || base;
    let surveys = await surveyAt(portOffset);
    for (let k = 2; !args.portOffset && k <= MAX_OFFSET_STEPS && surveys.some((v) => v.shards.some((s) => (s.target?.existing.length ?? 0) > 0)); k++) {
      portOffset = base * k;
      surveys = await surveyAt(portOffset);
    }
    const sample = await this.sample(surveys, online, call, regenerates(args));
    return buildMigrationPlan({
      site: args.site,
      now: this.deps.now?.() ?? new Date(),
      toModel: to.file,
      portOffset,
      offline: agents.filter((a) => a.status !== 'online').map((a) => `${args.site}/${a.description.host}`),
      surveys,
      ...(sample ? { sample } : {}),
      ...(await this.newestVerified(args.site)),
      ...(regenerates(args) ? { regenerate: { ...this.regenerateHosts(online), ...(args.toDetector ? { toDetector: args.toDetector } : {}) } } : {}),
    });
  }

  /** The extraction sample, by the agent holding upload directories, against sf-api's extraction-api. */
  private async sample(surveys: readonly MigrationSurvey[], online: readonly AgentEntry[], call: (a: AgentEntry, r: MigrationRequest, what: string) => Promise<MigrationResult>, detect: boolean): Promise<ExtractionSample | undefined> {
    const sf = surveys.find((s) => s.sfApi?.config.text !== undefined)?.sfApi;
    let url: string | undefined;
    try {
      url = sf?.config.text === undefined ? undefined : parseSfApiConfig(sf.config.text, sf.config.path).extractionApiUrl;
    } catch {
      return undefined; // the plan's sf-api check names the problem
    }
    const files = online.find((a) => a.description.components.some((c) => c.kind === 'uploads'));
    if (!url) return undefined;
    if (!files) return { host: '-', faces: 0, extracted: 0, failed: 0, ms: 0, error: 'no online agent of the site holds upload directories (the normalized images)' };
    const r = await call(files, { op: 'sample', extractionApiUrl: url, faces: SAMPLE_FACES, batchSize: MIGRATE_BATCH, concurrency: MIGRATE_WORKERS, ...(detect ? { detect: true } : {}) }, 'extraction sample');
    return r.op === 'sample' ? r.sample : undefined;
  }

  /** The online agents holding findface-security's database and the upload directories. */
  private regenerateHosts(online: readonly AgentEntry[]): { dbHost?: string; filesHost?: string } {
    const holding = (kind: string): string | undefined => online.find((a) => a.description.components.some((c) => c.kind === kind))?.description.host;
    const dbHost = holding('postgres');
    const filesHost = holding('uploads');
    return { ...(dbHost ? { dbHost } : {}), ...(filesHost ? { filesHost } : {}) };
  }

  private async newestVerified(site: string): Promise<{ verified?: { id: string; createdAt: Date; verifiedAt: Date } }> {
    const passed = (await this.deps.verifications.list(site)).filter((v) => v.ok).sort((a, b) => b.time.getTime() - a.time.getTime());
    for (const v of passed) {
      const m = await this.deps.catalog.get(site, v.snapshotId);
      if (m) return { verified: { id: m.cutId, createdAt: m.createdAt, verifiedAt: v.time } };
    }
    return {};
  }
}
