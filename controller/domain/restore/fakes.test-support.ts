/**
 * In-memory fakes of the restore orchestrator's ports (catalog, agents, repositories, snapshot taker,
 * job context) for its unit tests. Every side effect is appended to one shared `calls` log so tests can
 * assert the order of everything the orchestrator did; failures are injected per operation.
 */
import { silentLogger } from '../../../shared/logger.js';
import type { InspectResult } from '../../../shared/sync/inspect.js';
import type { AgentDescription, ComponentInfo } from '../../../shared/fleet.js';
import type { JobProgress } from '../../../shared/jobs.js';
import { MANIFEST_VERSION, type ComponentArtifact, type CutPoint, type Manifest, type ManifestComponent } from '../../../shared/manifest.js';
import type { RestorePhase } from '../../../shared/restore-phases.js';
import type { SandboxComponent, SandboxDescription } from '../../../shared/sandbox.js';
import { FleetInventory } from '../fleet.js';
import type { JobContext } from '../jobs.js';
import type { FreezeOutcome } from '../../../shared/cut.js';
import type { AgentClient, AgentRestoreStep, CatalogStore, ExportedFileInfo, IntegrityReport, RepositoryAccess, SiteRepositories } from '../ports.js';
import { RestoreOrchestrator } from './orchestrator.js';
import type { SnapshotTaker } from './execute.js';

/** Component infos as agents describe them. */
export const pg = (name = 'main', appUnit = 'findface-security'): ComponentInfo => ({
  kind: 'postgres',
  name,
  database: 'ffsecurity',
  host: '127.0.0.1',
  port: 5432,
  pgbouncerAddress: '127.0.0.1:6432',
  appUnit,
  pgbouncerUnit: 'pgbouncer',
});
export const shard = (name: string): ComponentInfo => ({
  kind: 'tarantool',
  name,
  host: '127.0.0.1',
  port: 3301,
  memtxDir: `/var/lib/tarantool/${name}`,
  walDir: `/var/lib/tarantool/${name}`,
  unit: `tarantool@${name}`,
});
export const uploads = (name = 'uploads'): ComponentInfo => ({ kind: 'uploads', name, paths: ['/var/lib/findface-security/uploads'] });
export const sfApi = (unit = 'findface-sf-api'): ComponentInfo => ({ kind: 'sf-api', name: 'sf-api', configPath: '/etc/findface-sf-api.ini', unit });

export function addressOf(site: string, host: string): string {
  return `${site}-${host}:50051`;
}

function description(site: string, host: string, components: ComponentInfo[]): AgentDescription {
  return {
    site,
    host,
    version: '0.1.0',
    grpcAddress: addressOf(site, host),
    roles: [],
    components,
    startedAt: new Date(0),
    heartbeatSeconds: 1,
    presenceTtlSeconds: 10,
    hostname: host,
    pid: 1,
  };
}

/** A fleet on a fixed clock; `offline` hosts were last seen long ago. */
export class TestFleet {
  readonly now = new Date('2026-01-10T12:00:00Z');
  readonly inventory = new FleetInventory(() => this.now);

  add(site: string, host: string, components: ComponentInfo[], options: { offline?: boolean; address?: string } = {}): this {
    const seenAt = new Date(this.now.getTime() - (options.offline ? 3_600_000 : 0));
    const d = { ...description(site, host, components), ...(options.address ? { grpcAddress: options.address } : {}) };
    this.inventory.apply({ kind: 'seen', description: d, seenAt });
    return this;
  }
}

/** The standard site: db (PostgreSQL + findface-security), api (sf-api), t1/t2 (shards), up (uploads). */
export function standardSite(fleet: TestFleet, site: string, hosts = { db: 'db', api: 'api', t1: 't1', t2: 't2', up: 'up' }): TestFleet {
  return fleet
    .add(site, hosts.db, [pg()])
    .add(site, hosts.api, [sfApi()])
    .add(site, hosts.t1, [shard('shard-1')])
    .add(site, hosts.t2, [shard('shard-2')])
    .add(site, hosts.up, [uploads()]);
}

function artifact(ref: string, host: string, details: Record<string, string | number | boolean> = {}): ManifestComponent {
  const kind = ref.split(':')[0] as ComponentArtifact['kind'];
  const time = new Date('2026-01-01T00:00:00Z');
  const cut: ComponentArtifact['cut'] =
    kind === 'postgres'
      ? { kind, component: ref, time, snapshotName: '00000003-1', lsn: '0/1' }
      : kind === 'tarantool'
        ? { kind, component: ref, time, vclock: { '1': 10 }, signature: 10 }
        : { kind, component: ref, time };
  return { component: ref, kind, cut, snapshotIds: [`r-${ref}`], bytes: 100, files: 1, dataAddedBytes: 10, details, host };
}

/** A sealed manifest of the standard site's components (or those given as `ref@host`). */
export function manifest(
  site: string,
  cutId: string,
  createdAt: string,
  options: { components?: string[]; models?: Record<string, string>; shardModels?: Record<string, string> } = {},
): Manifest {
  const refs = options.components ?? ['postgres:main@db', 'tarantool:shard-1@t1', 'tarantool:shard-2@t2', 'uploads:uploads@up'];
  const modelDetails = Object.fromEntries(Object.entries(options.shardModels ?? {}).map(([g, m]) => [`model:${g}`, m]));
  const components = refs.map((r) => {
    const [ref = '', host = ''] = r.split('@');
    return artifact(ref, host, ref.startsWith('tarantool:') ? modelDetails : {});
  });
  const at = new Date(createdAt);
  return {
    version: MANIFEST_VERSION,
    site,
    cutId,
    jobId: `j-${cutId}`,
    reason: 'manual',
    createdAt: at,
    sealedAt: new Date(at.getTime() + 1000),
    freezeWindowMs: 20,
    agents: [],
    components,
    totals: { bytes: 400, files: 4, dataAddedBytes: 40 },
    models: options.models ?? {},
  };
}

export class FakeCatalog implements CatalogStore {
  readonly manifests: Manifest[] = [];

  constructor(...initial: Manifest[]) {
    this.manifests.push(...initial);
  }

  async put(m: Manifest): Promise<void> {
    this.manifests.push(m);
  }
  async get(site: string, cutId: string): Promise<Manifest | undefined> {
    return this.manifests.find((m) => m.site === site && m.cutId === cutId);
  }
  /** Deliberately in insertion order, not newest first, so callers cannot rely on it. */
  async list(site: string): Promise<Manifest[]> {
    return this.manifests.filter((m) => m.site === site);
  }
  async find(cutId: string): Promise<Manifest | undefined> {
    return this.manifests.find((m) => m.cutId === cutId);
  }
  async delete(site: string, cutId: string): Promise<void> {
    const i = this.manifests.findIndex((m) => m.site === site && m.cutId === cutId);
    if (i >= 0) this.manifests.splice(i, 1);
  }
}

/** Where a fake agent says a sandboxed component is. */
function fakeEndpoint(a: ComponentArtifact): SandboxComponent {
  const name = a.component.split(':')[1] ?? '';
  if (a.kind === 'postgres') return { kind: 'postgres', component: a.component, host: '127.0.0.1', port: 5432, database: `ffk_drill_${name}`, owner: 'ntech' };
  if (a.kind === 'tarantool') return { kind: 'tarantool', component: a.component, name, host: '127.0.0.1', port: 40000 };
  return { kind: 'uploads', component: a.component, roots: [{ original: '/var/lib/findface-security/uploads', restored: `/cache/sandbox/${name}` }] };
}

/**
 * Agent calls, logged as `stop <addr> <units>`, `<phase> <addr> <ref>` (a restore call), `start <addr> <units>`, `check <addr>`,
 * `sandbox <addr> <refs>`, `drop <addr> <sandboxId>`.
 */
export class FakeAgents implements AgentClient {
  /** `restoreSandbox` fails at these refs (components before them on the host succeed). */
  readonly sandboxFailures = new Map<string, Error>();
  /** `dropSandbox` on these addresses fails. */
  readonly dropFailures = new Map<string, Error>();
  /** The sandboxes `runCheck` was asked to check. */
  readonly checkedSandboxes: SandboxDescription[] = [];
  /** `restore` fails for these `<phase> <ref>` keys (`stage tarantool:shard-1`; a count: that many times, then succeeds). */
  readonly restoreFailures = new Map<string, { times: number; error: Error }>();
  /** `restore` for these `<phase> <ref>` keys waits for the promise before it answers. */
  readonly restoreGates = new Map<string, Promise<void>>();
  readonly unitFailures = new Map<string, Error>();
  readonly reports = new Map<string, IntegrityReport | Error>();
  readonly restoreRequests: { address: string; jobId: string; artifacts: ComponentArtifact[]; repository: RepositoryAccess; phase?: RestorePhase; timeoutMs: number }[] = [];

  constructor(private readonly calls: string[]) {}

  async restore(
    address: string,
    req: { jobId: string; artifacts: ComponentArtifact[]; repository: RepositoryAccess; phase?: RestorePhase },
    options: { timeoutMs: number; onProgress?: (p: JobProgress) => void; onStep?: (s: AgentRestoreStep) => void },
  ): Promise<AgentRestoreStep[]> {
    const ref = req.artifacts.map((a) => a.component).join(',');
    const phase = req.phase ?? 'restore';
    this.calls.push(`${phase} ${address} ${ref}`);
    this.restoreRequests.push({ address, ...req, timeoutMs: options.timeoutMs });
    await this.restoreGates.get(`${phase} ${ref}`);
    const failure = this.restoreFailures.get(`${phase} ${ref}`);
    if (failure && failure.times > 0) {
      failure.times -= 1;
      throw failure.error;
    }
    if (phase === 'stage') options.onProgress?.({ component: ref, bytesDone: 50, bytesTotal: 100, filesDone: 1, filesTotal: 2, etaSeconds: 1 });
    const step: AgentRestoreStep = { component: ref, step: `${phase} files`, ok: true, durationMs: 5, detail: '' };
    options.onStep?.(step);
    return [step];
  }
  async controlUnits(address: string, req: { action: 'start' | 'stop'; units: string[] }): Promise<void> {
    const call = `${req.action} ${address} ${req.units.join(',')}`;
    this.calls.push(call);
    const err = this.unitFailures.get(call);
    if (err) throw err;
  }
  async restoreSandbox(
    address: string,
    req: { jobId: string; sandboxId: string; artifacts: ComponentArtifact[]; repository: RepositoryAccess },
    options: { timeoutMs: number; onProgress?: (p: JobProgress) => void; onStep?: (s: AgentRestoreStep) => void },
  ): Promise<{ steps: AgentRestoreStep[]; components: SandboxComponent[] }> {
    this.calls.push(`sandbox ${address} ${req.artifacts.map((a) => a.component).join(',')}`);
    const steps: AgentRestoreStep[] = [];
    for (const a of req.artifacts) {
      const failure = this.sandboxFailures.get(a.component);
      if (failure) throw failure;
      const step: AgentRestoreStep = { component: a.component, step: 'load', ok: true, durationMs: 7, detail: '' };
      options.onStep?.(step);
      steps.push(step);
    }
    return { steps, components: req.artifacts.map(fakeEndpoint) };
  }
  /** `exportSnapshot` on these addresses fails. */
  readonly exportFailures = new Map<string, Error>();
  async exportSnapshot(address: string, req: { artifacts: ComponentArtifact[]; sandbox: SandboxComponent[]; toDir: string }): Promise<{ dir: string; files: ExportedFileInfo[] }> {
    this.calls.push(`export ${address} ${req.artifacts.map((a) => a.component).join(',')} ${req.toDir} (sandbox: ${req.sandbox.map((c) => c.component).join(',') || 'none'})`);
    const err = this.exportFailures.get(address);
    if (err) throw err;
    return { dir: req.toDir, files: req.artifacts.map((a) => ({ name: `${a.component.replace(':', '-')}.out`, bytes: 10, sha256: 'ab', holds: a.component })) };
  }
  /** `importSnapshot` on these addresses fails; `importSources`: what each address's export says of itself. */
  readonly importFailures = new Map<string, Error>();
  readonly importSources = new Map<string, { site: string; cutId: string; time: Date }>();
  async importSnapshot(address: string, req: { cutId: string; fromDir: string; base: ComponentArtifact[] }): Promise<{ artifacts: ComponentArtifact[]; time: Date; source?: { site: string; cutId: string } }> {
    this.calls.push(`import ${address} ${req.base.map((a) => a.component).join(',')} ${req.fromDir} as ${req.cutId}`);
    const err = this.importFailures.get(address);
    if (err) throw err;
    const source = this.importSources.get(address);
    return {
      artifacts: req.base.map((a) => ({ ...a, snapshotIds: [`${req.cutId}-${a.component}`], details: { ...a.details, importedFrom: req.fromDir } })),
      time: source?.time ?? new Date('2026-12-02T00:00:00Z'),
      ...(source ? { source: { site: source.site, cutId: source.cutId } } : {}),
    };
  }
  async dropSandbox(address: string, sandboxId: string): Promise<{ existed: boolean; released: string[] }> {
    this.calls.push(`drop ${address} ${sandboxId}`);
    const err = this.dropFailures.get(address);
    if (err) throw err;
    return { existed: true, released: [`directory ${sandboxId} removed`] };
  }
  inspectSync(): Promise<InspectResult> {
    return Promise.reject(new Error('the restore fake holds no watch lists'));
  }

  async runCheck(address: string, options?: { sandbox?: SandboxDescription }): Promise<IntegrityReport> {
    this.calls.push(`check ${address}`);
    if (options?.sandbox) this.checkedSandboxes.push(options.sandbox);
    const r = this.reports.get(address) ?? { configured: false, ok: false, errors: 0, warnings: 0, summary: '' };
    if (r instanceof Error) throw r;
    return r;
  }
  describe(): Promise<AgentDescription> {
    throw new Error('not used by restores');
  }
  prepare(..._args: unknown[]): Promise<string[]> {
    throw new Error('not used by restores');
  }
  freeze(..._args: unknown[]): Promise<FreezeOutcome> {
    throw new Error('not used by restores');
  }
  cut(..._args: unknown[]): Promise<CutPoint[]> {
    throw new Error('not used by restores');
  }
  thaw(..._args: unknown[]): Promise<{ freezeWindowMs: number }> {
    throw new Error('not used by restores');
  }
  abort(..._args: unknown[]): Promise<void> {
    throw new Error('not used by restores');
  }
  upload(..._args: unknown[]): Promise<ComponentArtifact[]> {
    throw new Error('not used by restores');
  }
  close(): void {}
}

export class FakeRepositories implements SiteRepositories {
  constructor(private readonly calls: string[]) {}
  async access(site: string): Promise<RepositoryAccess> {
    this.calls.push(`repository ${site}`);
    return { url: `/srv/repos/${site}`, password: `pw-${site}`, env: {} };
  }
  open(): Promise<never> {
    throw new Error('not used by restores');
  }
  credentialSets(): Promise<never> {
    throw new Error('not used by restores');
  }
  secondary(): Promise<undefined> {
    return Promise.resolve(undefined);
  }
}

export class FakeSnapshots implements SnapshotTaker {
  failure: Error | undefined;
  private n = 0;
  constructor(private readonly calls: string[]) {}
  async take(site: string, reason: string): Promise<Manifest> {
    this.calls.push(`snapshot ${site} (${reason})`);
    if (this.failure) throw this.failure;
    this.n += 1;
    return manifest(site, `safety-${this.n}`, '2026-01-10T11:59:00Z');
  }
}

/** A job context that records what the orchestrator reported and saved. */
export function fakeContext(detail: Record<string, unknown> = {}, id = 'j-restore-1') {
  const abort = new AbortController();
  const rec = { steps: [] as string[], messages: [] as string[], progress: [] as JobProgress[], saves: 0 };
  const ctx: JobContext = {
    id,
    site: 'msk-1',
    kind: 'restore',
    detail,
    signal: abort.signal,
    step: (name, message) => {
      rec.steps.push(name);
      rec.messages.push(message ?? name);
    },
    progress: (p) => rec.progress.push(p),
    message: (text) => rec.messages.push(text),
    save: async () => {
      rec.saves += 1;
    },
  };
  return { ctx, rec, abort };
}

/** The detail as a restarted controller reads it back from the job store (JSON: dates become strings). */
export function persisted(detail: Record<string, unknown>): Record<string, unknown> {
  return JSON.parse(JSON.stringify(detail)) as Record<string, unknown>;
}

/** Every fake wired into an orchestrator. */
export function world(...catalog: Manifest[]) {
  const calls: string[] = [];
  const fleet = new TestFleet();
  const agents = new FakeAgents(calls);
  const snapshots = new FakeSnapshots(calls);
  const cat = new FakeCatalog(...catalog);
  const orchestrator = new RestoreOrchestrator({
    catalog: cat,
    fleet: fleet.inventory,
    agents,
    repositories: new FakeRepositories(calls),
    snapshots,
    secondaryManifests: () => Promise.resolve([]),
    deadlines: { protocolMs: 5000, prepareMs: 60_000, unitControlMs: 120_000, checkMs: 60_000, transferMs: 60_000, agentReturnMs: 2_000 },
    logger: silentLogger(),
  });
  return { calls, fleet, agents, snapshots, catalog: cat, orchestrator };
}
