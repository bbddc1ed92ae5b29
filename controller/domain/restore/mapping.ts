/**
 * Builds a restore plan from a selected snapshot and the target site's fleet, without side effects:
 * which agent restores each component (same component ref, the manifest's host preferred), in which
 * order (Tarantool shards and upload directories before PostgreSQL, whose restore starts
 * findface-security at its end), which writer units are stopped site-wide, and what is known about
 * feature-vector model compatibility.
 */
import { UnavailableError, ValidationError } from '../../../shared/errors.js';
import { componentRef, type AgentEntry } from '../../../shared/fleet.js';
import type { Manifest, ManifestComponent } from '../../../shared/manifest.js';
import type { ModelCheck, PlannedComponent, PlannedWriter, PlanStep, ResolvedRestorePlan } from './types.js';

/** Everything a plan is built from; gathered by the orchestrator. */
export interface PlanInput {
  snapshot: Manifest;
  /** The site asked for (`--site`); the snapshot must belong to it. */
  sourceSite: string;
  targetSite: string;
  /** Component refs asked for; empty = all. */
  components: readonly string[];
  safetySnapshot: boolean;
  /** Every agent the inventory knows in the target site, online or not. */
  targetAgents: readonly AgentEntry[];
  /** The target site's newest sealed snapshot (what its models are known from), if any. */
  targetNewest: Manifest | undefined;
}

/** Kinds in restore order: PostgreSQL last. */
const ORDER: Record<ManifestComponent['kind'], number> = { tarantool: 0, uploads: 1, postgres: 2 };

/** Resolves a plan; throws ValidationError / UnavailableError naming component, site and host. */
export function buildPlan(input: PlanInput): ResolvedRestorePlan {
  const { snapshot, targetSite } = input;
  verifyManifest(snapshot, input.sourceSite);
  const crossSite = targetSite !== snapshot.site;
  const chosen = chooseComponents(snapshot, input.components);
  // First: a site migrated to another model since has other shards too, and the models say why.
  const models = checkModels(snapshot, chosen, { targetSite, targetNewest: input.targetNewest });
  const components = chosen
    .map((entry) => mapComponent(entry, { snapshot, targetSite, agents: input.targetAgents }))
    .sort((a, b) => ORDER[a.kind] - ORDER[b.kind] || a.ref.localeCompare(b.ref) || a.host.localeCompare(b.host));
  refuseDoubleTargets(components, targetSite);
  const writers = writersOf(targetSite, input.targetAgents);
  const notes: string[] = [];
  if (crossSite) notes.push(`restoring site '${snapshot.site}'s snapshot '${snapshot.cutId}' into another site, '${targetSite}'`);
  if (models.status === 'unchecked') notes.push(`feature-vector models not checked: ${models.detail}`);
  if (writers.length === 0) notes.push(`no writer units (findface-security, sf-api) are known in site '${targetSite}'; none are stopped`);
  if (!input.safetySnapshot) notes.push(`no safety snapshot of site '${targetSite}' is taken: its current data cannot be restored afterwards`);
  const plan = { snapshot, sourceSite: snapshot.site, targetSite, crossSite, safetySnapshot: input.safetySnapshot, components, writers, models, notes };
  return { ...plan, steps: planSteps(plan) };
}

function verifyManifest(m: Manifest, site: string): void {
  if (m.site !== site) {
    throw new ValidationError(`snapshot '${m.cutId}' is catalogued under site '${site}' but its manifest names site '${m.site}'`, { field: 'site' });
  }
  if (m.components.length === 0) throw new ValidationError(`snapshot '${m.cutId}' of site '${m.site}' has no components`, { field: 'components' });
  for (const c of m.components) {
    if (c.snapshotIds.length === 0) {
      throw new ValidationError(`snapshot '${m.cutId}': component '${c.component}' (host '${c.host}') names no repository snapshot`, {
        field: 'components',
      });
    }
  }
}

/** The manifest entries asked for; each asked ref must be in the snapshot. */
export function chooseComponents(m: Manifest, refs: readonly string[]): ManifestComponent[] {
  if (refs.length === 0) return [...m.components];
  const known = [...new Set(m.components.map((c) => c.component))];
  for (const ref of refs) {
    if (!known.includes(ref)) {
      throw new ValidationError(`component '${ref}' is not in snapshot '${m.cutId}' of site '${m.site}' (it has: ${known.join(', ')})`, {
        field: 'components',
      });
    }
  }
  return m.components.filter((c) => refs.includes(c.component));
}

function serves(a: AgentEntry, ref: string): boolean {
  return a.description.components.some((c) => componentRef(c) === ref);
}

/** The target agent that restores one manifest entry. */
export function mapComponent(entry: ManifestComponent, where: { snapshot: Manifest; targetSite: string; agents: readonly AgentEntry[] }): PlannedComponent {
  const { targetSite } = where;
  const ref = entry.component;
  const serving = where.agents.filter((a) => serves(a, ref));
  const taken = `taken on host '${entry.host}' of site '${where.snapshot.site}'`;
  if (serving.length === 0) {
    throw new ValidationError(`no agent of site '${targetSite}' serves component '${ref}' (${taken})`, { field: 'components' });
  }
  // One agent serving the ref: it, whatever its host is called. Several: the one on the manifest's host.
  const chosen = serving.length === 1 ? serving[0] : serving.find((a) => a.description.host === entry.host);
  if (!chosen) {
    const hosts = serving.map((a) => `'${a.description.host}'`).join(', ');
    throw new ValidationError(`component '${ref}' (${taken}) is served by several hosts of site '${targetSite}' (${hosts}); none is named '${entry.host}'`, {
      field: 'components',
    });
  }
  if (chosen.status !== 'online') {
    throw new UnavailableError(`component '${ref}' of site '${targetSite}': the agent on host '${chosen.description.host}' is offline`);
  }
  const d = chosen.description;
  return { ref, kind: entry.kind, sourceHost: entry.host, host: d.host, address: d.grpcAddress, artifact: entry };
}

function refuseDoubleTargets(components: readonly PlannedComponent[], targetSite: string): void {
  const seen = new Map<string, PlannedComponent>();
  for (const c of components) {
    const key = `${c.ref}@${c.host}`;
    const before = seen.get(key);
    if (before) {
      throw new ValidationError(
        `component '${c.ref}' taken on hosts '${before.sourceHost}' and '${c.sourceHost}' would both be restored onto host '${c.host}' of site '${targetSite}'`,
        { field: 'components' },
      );
    }
    seen.set(key, c);
  }
}

/**
 * The writer units of the target site in stop order: every findface-security (it writes) before any
 * sf-api (findface-security calls it). Every agent that controls one must be online.
 */
export function writersOf(targetSite: string, agents: readonly AgentEntry[]): PlannedWriter[] {
  const writers: PlannedWriter[] = [];
  for (const a of agents) {
    const { host, grpcAddress: address } = a.description;
    const units: PlannedWriter[] = [];
    for (const c of a.description.components) {
      if (c.kind === 'postgres' && c.appUnit) units.push({ host, address, unit: c.appUnit, component: componentRef(c), kind: 'postgres' });
      if (c.kind === 'sf-api' && c.unit) units.push({ host, address, unit: c.unit, component: componentRef(c), kind: 'sf-api' });
    }
    if (units.length > 0 && a.status !== 'online') {
      const names = units.map((u) => u.unit).join(', ');
      throw new UnavailableError(`cannot stop the writers of site '${targetSite}': the agent on host '${host}' (${names}) is offline`);
    }
    writers.push(...units);
  }
  return [...writers.filter((w) => w.kind === 'postgres'), ...writers.filter((w) => w.kind === 'sf-api')];
}

/** Gallery → model of the selected Tarantool artifacts (`details['model:<gallery>']`), else the manifest's. */
function snapshotModels(snapshot: Manifest, components: readonly ManifestComponent[]): Record<string, string> {
  const models: Record<string, string> = {};
  for (const c of components) {
    for (const [key, value] of Object.entries(c.details ?? {})) {
      if (key.startsWith('model:') && typeof value === 'string') models[key.slice('model:'.length)] = value;
    }
  }
  return Object.keys(models).length > 0 ? models : { ...snapshot.models };
}

/**
 * Compares the snapshot's models with the target's, as its newest sealed snapshot records them (the
 * agents do not report live models). A mismatch is refused: restored vectors would not match the
 * extraction model of the site.
 */
export function checkModels(snapshot: Manifest, components: readonly ManifestComponent[], target: { targetSite: string; targetNewest: Manifest | undefined }): ModelCheck {
  if (!components.some((c) => c.kind === 'tarantool')) return { status: 'not-applicable', detail: 'no Tarantool shard is restored' };
  const ours = snapshotModels(snapshot, components.filter((c) => c.kind === 'tarantool'));
  if (Object.keys(ours).length === 0) return { status: 'unchecked', detail: `snapshot '${snapshot.cutId}' records no model names` };
  const listed = Object.entries(ours).map(([g, m]) => `${g}: ${m}`).join(', ');
  const newest = target.targetNewest;
  if (!newest || Object.keys(newest.models).length === 0) {
    return { status: 'unchecked', detail: `site '${target.targetSite}' has no sealed snapshot recording its models; the snapshot's are ${listed}` };
  }
  const mismatches = Object.entries(ours).filter(([g, m]) => newest.models[g] !== undefined && newest.models[g] !== m);
  if (mismatches.length > 0) {
    const what = mismatches.map(([g, m]) => `gallery '${g}' is '${m}' in snapshot '${snapshot.cutId}' but '${newest.models[g]}' in site '${target.targetSite}'`);
    const back = target.targetSite === snapshot.site ? `; a site migrated to another model since goes back to the old shards and model with: ffkeeper migrate rollback --site ${target.targetSite}` : '';
    throw new ValidationError(`feature-vector models differ (per site '${target.targetSite}'s newest snapshot '${newest.cutId}'): ${what.join('; ')}${back}`, {
      field: 'models',
    });
  }
  const common = Object.keys(ours).filter((g) => newest.models[g] !== undefined);
  if (common.length === 0) {
    return { status: 'unchecked', detail: `site '${target.targetSite}'s newest snapshot '${newest.cutId}' shares no gallery with the snapshot's (${listed})` };
  }
  return { status: 'compatible', detail: `${common.length} galleries match site '${target.targetSite}'s newest snapshot '${newest.cutId}'` };
}

function planSteps(plan: Omit<ResolvedRestorePlan, 'steps'>): PlanStep[] {
  const steps: PlanStep[] = [];
  if (plan.safetySnapshot) steps.push({ host: '*', component: '*', action: `take a safety snapshot of site '${plan.targetSite}'` });
  for (const c of plan.components) {
    const from = plan.crossSite || c.host !== c.sourceHost ? ` (taken on ${plan.sourceSite}/${c.sourceHost})` : '';
    steps.push({ host: c.host, component: c.ref, action: `stage from snapshot '${plan.snapshot.cutId}'${from} while the site runs` });
  }
  for (const w of plan.writers) steps.push({ host: w.host, component: w.component, action: `stop ${w.unit}` });
  for (const c of plan.components) steps.push({ host: c.host, component: c.ref, action: 'switch the staged copy in (the current one moved aside)' });
  for (const w of [...plan.writers].reverse()) steps.push({ host: w.host, component: w.component, action: `start ${w.unit}` });
  for (const c of plan.components) steps.push({ host: c.host, component: c.ref, action: 'delete what was moved aside' });
  steps.push({ host: '*', component: '*', action: `integrity check of site '${plan.targetSite}'` });
  return steps;
}
