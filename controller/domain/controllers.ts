/**
 * The controllers of one fleet know each other. Each controller process enters itself in a shared roster
 * (its id and an instance drawn at each start) and renews the entry every sixth of the lease TTL; the
 * entry runs out half a TTL after the last renewal. When a process's entry runs out, the others mark the
 * jobs it left unfinished as Failed and release the site leases it held — so a site is free again within
 * about two thirds of the lease TTL of a controller's death, and the job's record says what happened. A
 * controller that starts does the same for every process that is not in the roster (its own earlier run
 * included: the same id, another instance).
 */
import { randomBytes } from 'node:crypto';
import { describeError } from '../../shared/errors.js';
import type { JobRecord } from '../../shared/jobs.js';
import type { Logger } from '../../shared/logger.js';
import type { JobRunner } from './jobs.js';
import type { LeaseState, SiteLeases } from './leases.js';

/** One run of a controller process. */
export interface ControllerInstance {
  id: string;
  instance: string;
}

export interface ControllerEntry extends ControllerInstance {
  startedAt: Date;
  seenAt: Date;
  expiresAt: Date;
}

/** The shared roster (KV `ffk_controllers`, key = controller id). */
export interface ControllerRoster {
  put(entry: ControllerEntry): Promise<void>;
  list(): Promise<{ entry: ControllerEntry; revision: number }[]>;
  /** Removes the entry of `id` if it is still at `revision` (else someone renewed or removed it meanwhile). */
  remove(id: string, revision: number): Promise<void>;
}

export interface ControllerPeersOptions {
  roster: ControllerRoster;
  self: ControllerInstance;
  /** The site lease TTL: the entry lives half of it, renewed every sixth. */
  ttlMs: number;
  jobs: JobRunner;
  leases: SiteLeases;
  logger: Logger;
  now?: () => Date;
}

/** What a sweep found of processes that are gone. */
export interface Orphans {
  jobs: JobRecord[];
  leases: LeaseState[];
}

export function newInstance(): string {
  return randomBytes(6).toString('hex');
}

export class ControllerPeers {
  private readonly now: () => Date;
  private readonly startedAt: Date;
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> = Promise.resolve();
  /** Processes known to be gone, by instance, with the time they were last seen (for the job's message). */
  private readonly gone = new Map<string, { id: string; seenAt?: Date }>();
  private lastBeat: Date;
  private readonly orphanListeners: ((jobs: JobRecord[]) => Promise<void>)[] = [];

  constructor(private readonly o: ControllerPeersOptions) {
    this.now = o.now ?? (() => new Date());
    this.startedAt = this.now();
    this.lastBeat = this.startedAt;
  }

  get beatMs(): number {
    return Math.max(50, Math.floor(this.o.ttlMs / 6));
  }

  /** Enters this process in the roster, then marks what processes not in it left (at start, every one of them). */
  async start(): Promise<Orphans> {
    await this.beat();
    const found = await this.sweep();
    let busy = false;
    this.timer = setInterval(() => {
      if (busy) return;
      busy = true;
      this.ticking = this.tick().then(() => undefined, (err: unknown) => this.o.logger.warn({ err }, `controllers: could not renew this controller's entry or look at the others: ${describeError(err)}`)).finally(() => (busy = false));
    }, this.beatMs);
    this.timer.unref();
    return found;
  }

  /** Leaves the roster (the others then see nothing to take over: this process ended its own jobs). */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.ticking;
    const mine = (await this.o.roster.list().catch(() => [])).find((r) => r.entry.id === this.o.self.id && r.entry.instance === this.o.self.instance);
    if (mine) await this.o.roster.remove(mine.entry.id, mine.revision).catch(() => undefined);
  }

  /** Renews this entry; when another process's entry has run out, takes over what it left. Exposed for tests. */
  async tick(): Promise<Orphans | undefined> {
    const before = this.lastBeat;
    await this.beat();
    const now = this.now();
    // This process was cut off (NATS down, its loop stalled) for as long as an entry lives: so may the
    // others have been. They get a round to renew before their entries count as run out.
    if (now.getTime() - before.getTime() > this.o.ttlMs / 2) return undefined;
    const entries = await this.o.roster.list();
    const expired = entries.filter((r) => r.entry.expiresAt <= now && !this.isSelf(r.entry));
    if (expired.length === 0) return undefined;
    for (const r of expired) this.gone.set(r.entry.instance, { id: r.entry.id, seenAt: r.entry.seenAt });
    const found = await this.sweep(entries);
    for (const r of expired) await this.o.roster.remove(r.entry.id, r.revision).catch(() => undefined);
    if (found.jobs.length > 0) {
      for (const fn of this.orphanListeners) await fn(found.jobs).catch((err: unknown) => this.o.logger.warn({ err }, `controllers: could not tidy up after the jobs of a controller that is gone: ${describeError(err)}`));
    }
    return found;
  }

  /** Called with the jobs a later sweep marks failed (what the first sweep, in `start`, found is returned by it). */
  onOrphans(fn: (jobs: JobRecord[]) => Promise<void>): void {
    this.orphanListeners.push(fn);
  }

  private isSelf(e: ControllerInstance): boolean {
    return e.id === this.o.self.id && e.instance === this.o.self.instance;
  }

  private async beat(): Promise<void> {
    const now = this.now();
    await this.o.roster.put({ ...this.o.self, startedAt: this.startedAt, seenAt: now, expiresAt: new Date(now.getTime() + Math.floor(this.o.ttlMs / 2)) });
    this.lastBeat = now;
  }

  /** Fails the jobs and releases the leases of every process without a live roster entry. */
  private async sweep(entries?: { entry: ControllerEntry }[]): Promise<Orphans> {
    const now = this.now();
    const live = new Set((entries ?? (await this.o.roster.list())).filter((r) => r.entry.expiresAt > now || this.isSelf(r.entry)).map((r) => `${r.entry.id}/${r.entry.instance}`));
    live.add(`${this.o.self.id}/${this.o.self.instance}`);
    const alive = (p: ControllerInstance): boolean => live.has(`${p.id}/${p.instance}`);
    const me = this.o.self.id;
    const jobs = await this.o.jobs.failOrphans(alive, (j) => {
      if (j.controller === undefined) return 'the controller stopped while this job ran';
      if (j.controller === me) return `the controller stopped while this job ran (${me} was restarted)`;
      const seen = j.instance ? this.gone.get(j.instance)?.seenAt : undefined;
      return `controller ${j.controller} stopped while this job ran${seen ? ` (last seen ${seen.toISOString()})` : ''}; marked failed by ${me}`;
    });
    const leases = await this.o.leases.releaseOrphans(alive);
    if (jobs.length > 0) this.o.logger.warn({ jobs: jobs.map((j) => `${j.id} (${j.controller ?? 'unknown controller'})`) }, 'controllers: marked jobs of a controller that is gone as failed');
    for (const l of leases) this.o.logger.warn({ site: l.site, jobId: l.jobId, owner: l.owner }, `controllers: released the lease of site '${l.site}' held by ${l.purpose} job ${l.jobId} of controller ${l.owner}, which is gone`);
    return { jobs, leases };
  }
}
