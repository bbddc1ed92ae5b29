import { afterEach, describe, expect, it, vi } from 'vitest';
import { ConflictError, IllegalStateError, NotFoundError } from '../../shared/errors.js';
import { silentLogger } from '../../shared/logger.js';
import { CutParticipant } from './cut-participant.js';
import type { ComponentArtifact, ComponentDriver, CutPoint, PrepareContext, UploadContext } from './drivers/types.js';

/** An in-memory driver that records the calls made to it. */
class FakeDriver implements ComponentDriver {
  readonly ref: string;
  calls: string[] = [];
  failOn = new Set<string>();
  /** What the last upload was told about its parent. */
  catalogParent: UploadContext['catalogParent'];

  /** Steps that wait for this before they end. */
  readonly holdUntil = new Map<string, Promise<void>>();

  constructor(
    readonly name: string,
    private readonly log: string[],
    readonly kind: 'uploads' | 'postgres' = 'uploads',
  ) {
    this.ref = `${kind}:${name}`;
  }

  private async step(name: string): Promise<void> {
    this.calls.push(name);
    this.log.push(`${this.name}.${name}`);
    await this.holdUntil.get(name);
    if (this.failOn.has(name)) throw new Error(`${name} broke`);
  }

  /** What the last prepare said this cut's upload would get as its parent. */
  preparedParent: UploadContext['catalogParent'];
  prepare = (ctx?: PrepareContext) => {
    this.preparedParent = ctx?.catalogParent;
    return this.step('prepare');
  };
  freeze = () => this.step('freeze');
  thaw = () => this.step('thaw');
  release = () => this.step('release');
  async cut(): Promise<CutPoint> {
    await this.step('cut');
    return { kind: 'uploads', component: this.ref, time: new Date(0) };
  }
  async upload(ctx: UploadContext): Promise<ComponentArtifact> {
    this.catalogParent = ctx.catalogParent;
    await this.step('upload');
    const cut: CutPoint = { kind: 'uploads', component: this.ref, time: new Date(0) };
    return { component: ctx.tags.component, kind: 'uploads', cut, snapshotIds: ['s1'], bytes: 1, files: 1, dataAddedBytes: 1 };
  }
  restore(): Promise<never> {
    throw new Error('not used');
  }
  recoverStaged(): never {
    throw new Error('not used');
  }
  stage(): Promise<never> {
    throw new Error('not used');
  }
}

function setup() {
  const log: string[] = [];
  const a = new FakeDriver('a', log);
  const b = new FakeDriver('b', log);
  const p = new CutParticipant({ drivers: () => [a, b], logger: silentLogger() });
  const ctx = { jobId: 'j', site: 'msk-1', repository: {} as never, logger: silentLogger() };
  return { log, a, b, p, ctx };
}

describe('CutParticipant', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('runs prepare → freeze → cut → thaw → upload, thawing in reverse order', async () => {
    const { log, p, ctx } = setup();
    await p.prepare({ cutId: 'c1', components: [], leaseMs: 5000 });
    await p.freeze('c1');
    const points = await p.cut('c1');
    expect(points.map((x) => x.component)).toEqual(['uploads:a', 'uploads:b']);
    const { freezeWindowMs } = await p.thaw('c1');
    expect(freezeWindowMs).toBeGreaterThanOrEqual(0);
    const artifacts = await p.upload('c1', ctx);
    expect(artifacts.map((x) => x.component)).toEqual(['uploads:a', 'uploads:b']);
    expect(log).toEqual(['a.prepare', 'b.prepare', 'a.freeze', 'b.freeze', 'a.cut', 'b.cut', 'b.thaw', 'a.thaw', 'a.upload', 'b.upload']);
    expect(p.state('c1')).toEqual({ state: 'uploaded' });
  });

  it.each([
    { complete: true, a: { snapshotId: 'p-a' }, b: { snapshotId: undefined } },
    { complete: false, a: { snapshotId: 'p-a' }, b: undefined },
  ])("hands each driver its parent from the controller's catalog (complete: $complete)", async ({ complete, a: wantA, b: wantB }) => {
    const { a, b, p, ctx } = setup();
    const said = { parents: { 'uploads:a': 'p-a' }, parentsComplete: complete };
    await p.prepare({ cutId: 'c1', components: [], leaseMs: 5000, upload: { site: 's', repository: ctx.repository, ...said } });
    expect(a.preparedParent).toEqual(wantA); // prepare hands on what the upload will get
    expect(b.preparedParent).toEqual(wantB);
    await p.freeze('c1');
    await p.cut('c1');
    await p.thaw('c1');
    await p.upload('c1', { ...ctx, ...said });
    expect(a.catalogParent).toEqual(wantA);
    expect(b.catalogParent).toEqual(wantB);
  });

  it('freezes the components holding writes first, then the others together; cut in the same call, it stays frozen while it holds writes', async () => {
    const log: string[] = [];
    const [db, a, b] = [new FakeDriver('db', log, 'postgres'), new FakeDriver('a', log), new FakeDriver('b', log)];
    let release = (): void => undefined;
    a.holdUntil.set('freeze', new Promise<void>((r) => (release = r)));
    const p = new CutParticipant({ drivers: () => [a, db, b], logger: silentLogger() });
    await p.prepare({ cutId: 'c1', components: [], leaseMs: 5000 });
    const frozen = p.freeze('c1', { cut: true, thawIfHoldingNone: true });
    await vi.waitFor(() => expect(log).toContain('b.freeze'));
    // b froze while a's freeze was still waiting; both only after db's.
    expect(log.slice(3)).toEqual(['db.freeze', 'a.freeze', 'b.freeze']);
    release();
    const done = await frozen;
    expect(done.points?.map((x) => x.component)).toEqual(['uploads:a', 'postgres:db', 'uploads:b']);
    expect(done.thawed).toBeUndefined();
    expect(p.state('c1')).toEqual({ state: 'cut' });
    await p.thaw('c1');
    // Reverse order of the freezes' ends: the writes holder thaws last.
    expect(log.slice(-3)).toEqual(['a.thaw', 'b.thaw', 'db.thaw']);
  });

  it('an agent holding no writes cuts and ends its freeze in the freeze call; a thaw after that answers the same window', async () => {
    const { log, p } = setup();
    await p.prepare({ cutId: 'c1', components: [], leaseMs: 5000 });
    const done = await p.freeze('c1', { cut: true, thawIfHoldingNone: true });
    expect(done.points?.map((x) => x.component)).toEqual(['uploads:a', 'uploads:b']);
    expect(done.thawed?.freezeWindowMs).toBeGreaterThanOrEqual(0);
    expect(log.slice(2)).toEqual(['a.freeze', 'b.freeze', 'a.cut', 'b.cut', 'b.thaw', 'a.thaw']);
    expect(p.state('c1')).toEqual({ state: 'thawed' });
    expect(await p.thaw('c1')).toEqual(done.thawed);
    expect(log.filter((l) => l.endsWith('.thaw'))).toHaveLength(2);
  });

  it('thaws what it froze when a freeze fails', async () => {
    const { a, b, p } = setup();
    b.failOn.add('freeze');
    await p.prepare({ cutId: 'c1', components: [], leaseMs: 5000 });
    await expect(p.freeze('c1')).rejects.toThrow('freeze broke');
    expect(a.calls).toEqual(['prepare', 'freeze', 'thaw']);
    expect(b.calls).toEqual(['prepare', 'freeze']);
  });

  it('thaws by itself when the lease runs out, and refuses the cut afterwards', async () => {
    vi.useFakeTimers();
    const { a, p, ctx } = setup();
    await p.prepare({ cutId: 'c1', components: [], leaseMs: 5000 });
    await p.freeze('c1');
    await p.cut('c1');
    await vi.advanceTimersByTimeAsync(5001);
    expect(a.calls).toEqual(['prepare', 'freeze', 'cut', 'thaw', 'release']);
    expect(p.state('c1')?.state).toBe('expired');
    const thaw = p.thaw('c1');
    await expect(thaw).rejects.toBeInstanceOf(IllegalStateError);
    await expect(p.thaw('c1')).rejects.toThrow("cut 'c1' is expired: freeze lease of 5000 ms ran out before thaw; the cut is invalid");
    await expect(p.upload('c1', ctx)).rejects.toThrow(/is expired/);
  });

  it('counts the lease from the freeze: a prepared cut waits freezeWithinMs for it (other agents may still prepare), then is given up', async () => {
    vi.useFakeTimers();
    const { a, p } = setup();
    await p.prepare({ cutId: 'c1', components: [], leaseMs: 5000, freezeWithinMs: 60_000 });
    await vi.advanceTimersByTimeAsync(10_000); // longer than the lease: still prepared
    await p.freeze('c1');
    await p.cut('c1');
    await vi.advanceTimersByTimeAsync(4000);
    await p.thaw('c1');
    expect(p.state('c1')?.state).toBe('thawed');

    await p.prepare({ cutId: 'c2', components: [], leaseMs: 5000, freezeWithinMs: 20_000 });
    await vi.advanceTimersByTimeAsync(20_001);
    expect(p.state('c2')).toEqual({ state: 'expired', reason: 'no freeze came within 20000 ms of the prepare; the cut is invalid' });
    await expect(p.freeze('c2')).rejects.toThrow("cut 'c2' is expired: no freeze came within 20000 ms of the prepare; the cut is invalid");
    expect(a.calls.slice(-2)).toEqual(['prepare', 'release']);
  });

  it('does not expire once thawed', async () => {
    vi.useFakeTimers();
    const { a, p } = setup();
    await p.prepare({ cutId: 'c1', components: [], leaseMs: 100 });
    await p.freeze('c1');
    await p.cut('c1');
    await p.thaw('c1');
    await vi.advanceTimersByTimeAsync(1000);
    expect(p.state('c1')?.state).toBe('thawed');
    expect(a.calls).not.toContain('release');
  });

  it('abort thaws and releases; it is idempotent and fine for unknown cuts', async () => {
    const { a, p } = setup();
    await p.prepare({ cutId: 'c1', components: [], leaseMs: 5000 });
    await p.freeze('c1');
    await p.abort('c1', 'controller said so');
    await p.abort('c1', 'again');
    await p.abort('nope', 'unknown');
    expect(a.calls).toEqual(['prepare', 'freeze', 'thaw', 'release']);
    expect(p.state('c1')).toEqual({ state: 'aborted', reason: 'controller said so' });
  });

  it('fails the whole upload naming the component when one driver fails', async () => {
    const { b, p, ctx } = setup();
    b.failOn.add('upload');
    await p.prepare({ cutId: 'c1', components: [], leaseMs: 5000 });
    await p.freeze('c1');
    await p.cut('c1');
    await p.thaw('c1');
    await expect(p.upload('c1', ctx)).rejects.toThrow("cut 'c1' upload failed: uploads:b: upload broke");
  });

  it('never keeps a session for a cut aborted while its prepare was still running', async () => {
    const { a, p } = setup();
    let finishPrepare: () => void = () => undefined;
    const normalPrepare = a.prepare;
    a.prepare = () => new Promise<void>((resolve) => (finishPrepare = resolve));
    const preparing = p.prepare({ cutId: 'slow', components: [], leaseMs: 5000 });
    await p.abort('slow', 'prepare timed out on the controller');
    finishPrepare();
    await expect(preparing).rejects.toThrow("cut 'slow' was aborted while it was being prepared: prepare timed out on the controller");
    expect(p.state('slow')).toBeUndefined();
    expect(a.calls).toContain('release');
    a.prepare = normalPrepare;
    await p.prepare({ cutId: 'next', components: [], leaseMs: 5000 });
    await p.abort('next', 'done');
  });

  it('refuses a second cut while one is frozen, and steps out of order', async () => {
    const { p } = setup();
    await expect(p.freeze('zz')).rejects.toBeInstanceOf(NotFoundError);
    await p.prepare({ cutId: 'c1', components: [], leaseMs: 5000 });
    await expect(p.cut('c1')).rejects.toThrow("cut 'c1' is prepared; expected frozen");
    await p.freeze('c1');
    await expect(p.prepare({ cutId: 'c2', components: [], leaseMs: 5000 })).rejects.toThrow(ConflictError);
    await expect(p.prepare({ cutId: 'c2', components: [], leaseMs: 5000 })).rejects.toThrow("cut 'c1' is still frozen on this agent; cut 'c2' must wait");
    await p.abort('c1', 'done');
  });

  it('a newer cut supersedes one only prepared (its controller no longer holds the site): released, and its freeze refused', async () => {
    const { p, a } = setup();
    await p.prepare({ cutId: 'old', components: [], leaseMs: 5000, freezeWithinMs: 305_000 });
    a.calls.length = 0;
    await p.prepare({ cutId: 'new', components: [], leaseMs: 5000 });
    expect(p.state('old')).toEqual({ state: 'aborted', reason: "superseded by cut 'new' before its freeze came (its controller no longer holds the site)" });
    expect(a.calls.indexOf('release')).toBeGreaterThanOrEqual(0);
    expect(a.calls.indexOf('release')).toBeLessThan(a.calls.lastIndexOf('prepare'));
    expect(p.state('new')?.state).toBe('prepared');
    await expect(p.freeze('old')).rejects.toThrow(IllegalStateError);
    await p.abort('new', 'done');
  });

  it('a newer cut releases one thawed and never uploaded (what its cut held would refuse the new cut); its upload is refused', async () => {
    const { p, a, ctx } = setup();
    await p.prepare({ cutId: 'old', components: [], leaseMs: 5000 });
    await p.freeze('old', { cut: true });
    await p.thaw('old');
    a.calls.length = 0;
    await p.prepare({ cutId: 'new', components: [], leaseMs: 5000 });
    expect(p.state('old')).toEqual({ state: 'aborted', reason: "superseded by cut 'new' before its upload came (its controller no longer holds the site)" });
    expect(a.calls).toEqual(['release', 'prepare']);
    await expect(p.upload('old', ctx)).rejects.toThrow("cut 'old' is aborted: superseded by cut 'new'");
    await p.freeze('new', { cut: true });
    await p.thaw('new');
    await p.upload('new', ctx);
    expect(p.state('new')?.state).toBe('uploaded');
    await p.prepare({ cutId: 'next', components: [], leaseMs: 5000 }); // an uploaded cut is not released again
    expect(a.calls.filter((c) => c === 'release')).toEqual(['release']);
    await p.abort('next', 'done');
  });
});
