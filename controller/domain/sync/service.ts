/**
 * `sync link|list|show|pause|resume|unlink`: the controller's side of watch-list sync links. Creating a
 * link validates both ends, refuses what is not built yet, takes a safety snapshot of the slave, checks
 * both sites run the same feature-vector models, then stores the record the agents act on. Removing a
 * link deletes the record (the agents stop their parts) and forgets its parts' statuses.
 */
import { ConflictError, NotFoundError, ValidationError } from '../../../shared/errors.js';
import { checkSiteId } from '../../../shared/ids.js';
import { checkTimeZone } from '../../../shared/time-zone.js';
import { formatEnd, linkId, MAX_LINK_NUMBER, SYNC_MODES, type SyncEnd, type SyncLink, type SyncMode } from '../../../shared/sync/link.js';
import type { SyncCheckReport, WatchListInfo } from '../../../shared/sync/inspect.js';
import type { SyncCheckStore, SyncLinkStore, SyncStatusStore } from './links.js';
import { commonModels } from './models.js';
import { linkView, type SyncLinkView } from './view.js';
import { linkNative, nativeLinkView, replicaOf, unlinkNative, type NativeSyncPort } from './native.js';
import { runWindow } from './window.js';

export const DEFAULT_SYNC_AT = '03:00';
export const DEFAULT_SYNC_TIMEZONE = 'UTC';
/** A nightly window gives the slave 30 minutes to catch up, looking every second. */
export const DEFAULT_WINDOW = { catchUpMs: 30 * 60_000, pollMs: 1000 };
/** Why the master gets a snapshot when it has none recording its models. */
export const BASELINE_REASON = 'sync link baseline';

export interface CreateSyncLinkArgs {
  from: SyncEnd;
  to: SyncEnd;
  mode?: string;
  at?: string;
  timezone?: string;
  noSafetySnapshot?: boolean;
}

/** Jobs of the slave site: comparisons, nightly apply windows, and link changes (create, pause, resume, unlink) for the audit trail. */
export type SyncJobKind = 'sync-check' | 'sync-link' | 'sync-apply';
export type JobStep = (name: string, message: string) => void;

export interface SyncServiceDeps {
  links: SyncLinkStore;
  statuses: SyncStatusStore;
  /** Sites the fleet inventory knows. */
  knownSites: () => string[];
  /** Gallery → model of the site's newest sealed snapshot; undefined when it has none. */
  modelsOf: (site: string) => Promise<Record<string, string> | undefined>;
  /** Takes a snapshot of a site and waits for it to be sealed; resolves with its cut id. */
  takeSnapshot: (site: string, reason: string) => Promise<string>;
  /** The site's watch lists (asked of its PostgreSQL agent); absent: the lists are not checked. */
  listsOf?: (site: string) => Promise<WatchListInfo[]>;
  /** The full comparison of a link's two ends (controller/domain/sync/check.ts), with repair when asked. */
  compare: (link: SyncLink, repair: boolean) => Promise<SyncCheckReport>;
  checks: SyncCheckStore;
  /**
   * Runs a comparison as a job of the slave site (its steps and outcome go to the events stream, the
   * audit trail); default: runs it directly.
   */
  inJob?: <T>(kind: SyncJobKind, site: string, work: (step: JobStep) => Promise<T>) => Promise<T>;
  /**
   * Who may read which site's sync stream on NATS (each slave site its masters'), kept in step with the
   * links: called with every link before a new one is stored and after one is removed. Absent: not managed
   * here (insecure NATS, or permissions kept by hand).
   */
  grants?: SyncGrantsPort;
  /** How a nightly link's window waits for the slave (controller/domain/sync/window.ts); default DEFAULT_WINDOW. */
  window?: { catchUpMs: number; pollMs: number; sleep?: (ms: number) => Promise<void> };
  /** FindFace's native sync on each site's findface-security host; absent: mode `native` is refused. */
  native?: NativeSyncPort;
  now?: () => Date;
}

export interface SyncGrantsPort {
  apply(reads: Record<string, string[]>): Promise<void>;
}

/** Slave site → the master sites whose sync streams its agents read (native links use FindFace's API, not NATS). */
export function syncReadsOf(links: readonly SyncLink[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const l of links) {
    if (l.mode === 'native' || l.from.site === l.to.site) continue;
    const masters = (out[l.to.site] ??= []);
    if (!masters.includes(l.from.site)) masters.push(l.from.site);
  }
  for (const masters of Object.values(out)) masters.sort();
  return out;
}

function checkEnd(end: SyncEnd, flag: 'from' | 'to', known: readonly string[]): void {
  checkSiteId(end.site);
  if (!Number.isSafeInteger(end.list) || end.list <= 0) {
    throw new ValidationError(`${flag} list '${end.list}' of site '${end.site}' is not a watch-list id (a whole number > 0)`, { field: flag });
  }
  if (!known.includes(end.site)) {
    throw new ValidationError(`site '${end.site}' (${flag} end) is not known to the fleet inventory; known sites: ${known.join(', ') || 'none'}`, { field: flag });
  }
}

function checkMode(mode: string, nativeAvailable: boolean): SyncMode {
  if (!(SYNC_MODES as readonly string[]).includes(mode)) {
    throw new ValidationError(`sync mode '${mode}' is not one of ${SYNC_MODES.join(', ')}`, { field: 'mode' });
  }
  if (mode === 'native' && !nativeAvailable) throw new ValidationError(`mode 'native' is not available on this controller`, { field: 'mode' });
  return mode as SyncMode;
}

const nativeOnly = (link: SyncLink, what: string): ValidationError =>
  new ValidationError(`sync link '${link.id}' runs FindFace's native sync, which has no ${what}; 'sync show' reports its nightly runs (unlink and link again to change it)`, { field: 'link' });

function checkAt(at: string): string {
  if (!/^([01][0-9]|2[0-3]):[0-5][0-9]$/.test(at)) throw new ValidationError(`time '${at}' is not a local time HH:MM (00:00-23:59)`, { field: 'at' });
  return at;
}

/** The smallest link number no link uses. */
function freeNumber(links: readonly SyncLink[]): number {
  const used = new Set(links.map((l) => l.number));
  for (let n = 1; n <= MAX_LINK_NUMBER; n++) if (!used.has(n)) return n;
  throw new ConflictError(`all ${MAX_LINK_NUMBER} sync link numbers are in use; remove a link first`);
}

/** Whether `a` was created before `b` (ties broken by id), so exactly one of two racing links yields. */
const earlier = (a: SyncLink, b: SyncLink): boolean => (a.createdAt === b.createdAt ? a.id < b.id : a.createdAt < b.createdAt);

export class SyncService {
  private readonly now: () => Date;

  constructor(private readonly deps: SyncServiceDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  async create(args: CreateSyncLinkArgs): Promise<SyncLinkView> {
    const known = this.deps.knownSites();
    checkEnd(args.from, 'from', known);
    checkEnd(args.to, 'to', known);
    const id = linkId(args.from, args.to);
    if (args.from.site === args.to.site && args.from.list === args.to.list) {
      throw new ValidationError(`a link needs two different watch lists: from and to are both ${formatEnd(args.from)}`, { field: 'to' });
    }
    const mode = checkMode(args.mode || 'continuous', this.deps.native !== undefined);
    const at = checkAt(args.at || DEFAULT_SYNC_AT);
    const timezone = checkTimeZone(args.timezone || DEFAULT_SYNC_TIMEZONE);
    return this.job('sync-link', args.to.site, async (step) => {
      step('check', `linking ${formatEnd(args.from)} → ${formatEnd(args.to)} (${mode}): checking both lists`);
      this.checkFree(id, args.to, await this.deps.links.list());
      const replacedDossiers = await this.checkLists(args.from, args.to);
      if (!args.noSafetySnapshot) step('safety-snapshot', `safety snapshot of site '${args.to.site}'`);
      const safetySnapshot = args.noSafetySnapshot ? undefined : await this.deps.takeSnapshot(args.to.site, `safety before sync link ${id}`);
      const models = commonModels(
        { site: args.from.site, models: await this.modelsOrBaseline(args.from.site) },
        { site: args.to.site, models: await this.modelsOrBaseline(args.to.site) },
      );
      const link: SyncLink = {
        id, number: 0, from: args.from, to: args.to, mode, at, timezone, paused: false, createdAt: this.now().toISOString(),
        ...(safetySnapshot ? { safetySnapshot } : {}), ...(replacedDossiers === undefined ? {} : { replacedDossiers }), models,
      };
      // checkMode admitted `native` only with a native port.
      const created = mode === 'native' && this.deps.native ? await this.createNative(this.deps.native, link, step) : linkView(await this.store(link), [], this.now());
      step('done', `link ${id} created (number ${created.number}${safetySnapshot ? `, safety snapshot ${safetySnapshot}` : ''})`);
      return created;
    });
  }

  /** FindFace's native sync set up on both sites, then the record stored (the replica removed again if that fails). */
  private async createNative(native: NativeSyncPort, link: SyncLink, step: JobStep): Promise<SyncLinkView> {
    step('native', `setting up FindFace's sync: SYNC_TOKEN and SYNC_TIME on both findface-security services, POST /sync/dossier-lists/ on site '${link.to.site}'`);
    const withNative = { ...link, native: await linkNative(native, link, this.now()) };
    try {
      return await this.view(await this.store(withNative));
    } catch (err) {
      await unlinkNative(native, withNative).catch(() => undefined);
      throw err;
    }
  }

  private job<T>(kind: SyncJobKind, site: string, work: (step: JobStep) => Promise<T>): Promise<T> {
    return this.deps.inJob ? this.deps.inJob(kind, site, work) : work(() => undefined);
  }

  /** The view of a link: from its parts' statuses, or (native) from the slave's findface-security. */
  private async view(link: SyncLink): Promise<SyncLinkView> {
    if (link.mode === 'native' && this.deps.native) return nativeLinkView(link, await replicaOf(this.deps.native, link), this.now());
    return this.withCheck(linkView(link, await this.deps.statuses.list(link.id), this.now()));
  }

  async list(site?: string): Promise<SyncLinkView[]> {
    const links = (await this.deps.links.list()).filter((l) => !site || l.from.site === site || l.to.site === site).sort((a, b) => a.id.localeCompare(b.id));
    return Promise.all(links.map((l) => this.view(l)));
  }

  async get(id: string): Promise<SyncLinkView> {
    return this.view(await this.find(id));
  }

  /** Compares the link's two ends (every difference), stores the report as its last check; `repair` republishes differing dossiers. */
  async check(id: string, repair: boolean): Promise<SyncCheckReport> {
    const link = await this.find(id);
    if (link.mode === 'native') throw nativeOnly(link, 'comparison by ffkeeper');
    const report = await this.job('sync-check', link.to.site, async (step) => {
      step('compare', `comparing ${formatEnd(link.from)} with ${formatEnd(link.to)} (link ${link.id})${repair ? ', repairing' : ''}`);
      const r = await this.deps.compare(link, repair);
      step('done', `${r.differences.length} differences in ${r.dossiers} dossiers, ${r.records} records, ${r.files} files${r.requeued ? `; ${r.requeued} dossiers republished` : ''}`);
      return r;
    });
    await this.deps.checks.put(report);
    return report;
  }

  /**
   * A nightly link's apply window now (also its nightly run): the slave applies what the master published
   * since the last window, then both ends are compared with repair; the last comparison is stored and returned.
   */
  async run(id: string): Promise<SyncCheckReport> {
    const link = await this.find(id);
    if (link.mode !== 'nightly') {
      throw new ValidationError(
        `sync link '${id}' runs in mode '${link.mode}': only a nightly link has an apply window to run` +
          (link.mode === 'continuous' ? ` (it applies continuously; 'sync check --repair' compares and repairs)` : ` (FindFace runs it at SYNC_TIME)`),
        { field: 'link' },
      );
    }
    if (link.paused) throw new ConflictError(`sync link '${id}' is paused; resume it first`);
    if (link.window) throw new ConflictError(`the apply window of sync link '${id}' is already open (since ${link.window.openedAt})`);
    const report = await this.job('sync-apply', link.to.site, async (step) => {
      const r = await runWindow({ ...(this.deps.window ?? DEFAULT_WINDOW), links: this.deps.links, statuses: this.deps.statuses, compare: this.deps.compare, now: this.now }, link, step);
      step('done', `window closed: ${r.differences.length} differences in ${r.dossiers} dossiers, ${r.records} records, ${r.files} files${r.requeued ? `; ${r.requeued} dossiers republished` : ''}`);
      return r;
    });
    await this.deps.checks.put(report);
    return report;
  }

  /** The links of ffkeeper's engine (for the nightly run) and when each was last compared. */
  async checkTimes(): Promise<{ link: SyncLink; lastCheckedAt?: string }[]> {
    const links = (await this.deps.links.list()).filter((l) => l.mode !== 'native');
    return Promise.all(links.map(async (link) => {
      const last = await this.deps.checks.get(link.id);
      return { link, ...(last ? { lastCheckedAt: last.checkedAt } : {}) };
    }));
  }

  private async withCheck(view: SyncLinkView): Promise<SyncLinkView> {
    const lastCheck = await this.deps.checks.get(view.id);
    return lastCheck ? { ...view, lastCheck } : view;
  }

  async setPaused(id: string, paused: boolean): Promise<SyncLinkView> {
    const link = await this.find(id);
    if (link.mode === 'native') throw nativeOnly(link, 'pause');
    const next = { ...link, paused };
    if (link.paused !== paused) {
      await this.job('sync-link', link.to.site, async (step) => {
        await this.deps.links.update(next);
        step('done', `link ${id} ${paused ? 'paused' : 'resumed'}`);
      });
    }
    return linkView(next, await this.deps.statuses.list(id), this.now());
  }

  /** Deletes the link record (its parts stop) and its parts' statuses; the slave keeps what was replicated. */
  async remove(id: string): Promise<void> {
    const link = await this.find(id);
    await this.job('sync-link', link.to.site, async (step) => {
      // Native: the slave's findface-security drops the replica first; if it cannot be asked, the link stays.
      if (link.mode === 'native' && this.deps.native) {
        step('native', `DELETE /sync/dossier-lists/${link.to.list}/ on site '${link.to.site}'`);
        await unlinkNative(this.deps.native, link);
      }
      if (!(await this.deps.links.delete(id))) throw new NotFoundError(`sync link '${id}' not found`);
      await this.applyGrants(await this.deps.links.list());
      await this.deps.statuses.purge(id);
      await this.deps.checks.delete(id);
      step('done', `link ${id} removed; ${formatEnd(link.to)} keeps its content and is writable again`);
    });
  }

  /** Brings the NATS read grants in step with `links` (also at the controller's start: `syncGrants`). */
  private async applyGrants(links: readonly SyncLink[]): Promise<void> {
    await this.deps.grants?.apply(syncReadsOf(links));
  }

  /** At the controller's start: the grants as the stored links need them. */
  async syncGrants(): Promise<void> {
    await this.applyGrants(await this.deps.links.list());
  }

  private async find(id: string): Promise<SyncLink> {
    const link = await this.deps.links.get(id);
    if (!link) throw new NotFoundError(`sync link '${id}' not found`);
    return link;
  }

  private checkFree(id: string, to: SyncEnd, links: readonly SyncLink[]): void {
    if (links.some((l) => l.id === id)) throw new ConflictError(`sync link '${id}' already exists`);
    const into = links.find((l) => l.to.site === to.site && l.to.list === to.list);
    if (into) throw new ConflictError(`watch list ${formatEnd(to)} is already the slave of sync link '${into.id}' (from ${formatEnd(into.from)})`);
    freeNumber(links);
  }

  /** Both lists must exist; returns how many dossiers the slave list holds (the first sync replaces them). */
  private async checkLists(from: SyncEnd, to: SyncEnd): Promise<number | undefined> {
    if (!this.deps.listsOf) return undefined;
    const [master, slave] = await Promise.all([this.deps.listsOf(from.site), this.deps.listsOf(to.site)]);
    const find = (lists: WatchListInfo[], end: SyncEnd, flag: 'from' | 'to'): WatchListInfo => {
      const found = lists.find((l) => l.id === end.list);
      if (found) return found;
      const known = lists.map((l) => `${l.id} '${l.name}'`).join(', ') || 'none';
      throw new ValidationError(`watch list ${end.list} does not exist on site '${end.site}' (${flag} end); its lists: ${known}`, { field: flag });
    };
    find(master, from, 'from');
    return find(slave, to, 'to').dossiers;
  }

  private async modelsOrBaseline(site: string): Promise<Record<string, string>> {
    const models = await this.deps.modelsOf(site);
    if (models) return models;
    await this.deps.takeSnapshot(site, BASELINE_REASON);
    return (await this.deps.modelsOf(site)) ?? {};
  }

  /**
   * Stores a new link with the smallest free number. Two controllers creating links at once may pick
   * the same number or slave list: after writing, the later of two such links yields (it is deleted and
   * either takes another number or is refused).
   */
  private async store(link: SyncLink): Promise<SyncLink> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const links = await this.deps.links.list();
      this.checkFree(link.id, link.to, links);
      const mine = { ...link, number: freeNumber(links) };
      // The slave's agents may read the master's stream before they see the link.
      await this.applyGrants([...links, mine]);
      await this.deps.links.create(mine);
      const others = (await this.deps.links.list()).filter((l) => l.id !== mine.id && earlier(l, mine));
      const into = others.find((l) => l.to.site === mine.to.site && l.to.list === mine.to.list);
      const sameNumber = others.some((l) => l.number === mine.number);
      if (!into && !sameNumber) return mine;
      await this.deps.links.delete(mine.id);
      if (into) throw new ConflictError(`watch list ${formatEnd(mine.to)} became the slave of sync link '${into.id}' meanwhile`);
    }
    throw new ConflictError(`could not allocate a number for sync link '${link.id}': other links were created at the same time; try again`);
  }
}
