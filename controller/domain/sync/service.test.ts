import { describe, expect, it } from 'vitest';
import { ConflictError, NotFoundError, ValidationError, type FfkError } from '../../../shared/errors.js';
import { MAX_LINK_NUMBER, type SyncEnd, type SyncLink, type SyncPartStatus } from '../../../shared/sync/link.js';
import { BASELINE_REASON, SyncService, syncReadsOf, type CreateSyncLinkArgs } from './service.js';
import { MemoryChecks, MemoryLinks, MemoryStatuses } from './fakes.test-support.js';

const NOW = new Date('2026-11-21T10:00:00.000Z');
const FACE = { ffsec_face_objects: 'face-v1', ffsec_body_objects: 'body-v1' };

/** A world of three sites; `models` per site is what its newest snapshot records (absent: no snapshot). */
function world(models: Record<string, Record<string, string> | undefined> = { 'msk-1': FACE, 'spb-1': FACE, 'ekb-1': FACE }) {
  const links = new MemoryLinks();
  const statuses = new MemoryStatuses();
  const snapshots: { site: string; reason: string }[] = [];
  const modelsNow = { ...models };
  const service = new SyncService({
    links,
    statuses,
    checks: new MemoryChecks(),
    compare: () => Promise.reject(new Error('not compared in these tests')),
    knownSites: () => ['msk-1', 'spb-1', 'ekb-1'],
    listsOf: () => Promise.resolve([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12].map((id) => ({ id, name: id === 1 ? 'VIP' : `list ${id}`, dossiers: id === 2 ? 50 : 0 }))),
    modelsOf: (site) => Promise.resolve(modelsNow[site]),
    takeSnapshot: (site, reason) => {
      snapshots.push({ site, reason });
      modelsNow[site] ??= {};
      return Promise.resolve(`c-${site}-${snapshots.length}`);
    },
    now: () => NOW,
  });
  return { service, links, statuses, snapshots, modelsNow };
}

const end = (site: string, list: number): SyncEnd => ({ site, list });
const args = (over: Partial<CreateSyncLinkArgs> = {}): CreateSyncLinkArgs => ({ from: end('msk-1', 1), to: end('spb-1', 2), ...over });

describe('SyncService.create: validation', () => {
  const cases: { name: string; args: Partial<CreateSyncLinkArgs>; message: string }[] = [
    { name: 'unknown master site', args: { from: end('nsk-1', 1) }, message: "site 'nsk-1' (from end) is not known to the fleet inventory; known sites: msk-1, spb-1, ekb-1" },
    { name: 'unknown slave site', args: { to: end('nsk-1', 1) }, message: "site 'nsk-1' (to end) is not known to the fleet inventory; known sites: msk-1, spb-1, ekb-1" },
    { name: 'invalid site id', args: { from: end('bad site', 1) }, message: "site 'bad site' is not a valid site id" },
    { name: 'list id 0', args: { to: end('spb-1', 0) }, message: "to list '0' of site 'spb-1' is not a watch-list id (a whole number > 0)" },
    { name: 'same site and list', args: { to: end('msk-1', 1) }, message: 'a link needs two different watch lists: from and to are both msk-1:1' },
    { name: 'native mode without findface-security agents', args: { mode: 'native' }, message: "mode 'native' is not available on this controller" },
    { name: 'unknown mode', args: { mode: 'hourly' }, message: "sync mode 'hourly' is not one of continuous, nightly, native" },
    { name: 'bad --at', args: { at: '25:00' }, message: "time '25:00' is not a local time HH:MM (00:00-23:59)" },
    { name: 'bad --at shape', args: { at: '3:00' }, message: "time '3:00' is not a local time HH:MM (00:00-23:59)" },
    { name: 'unknown time zone', args: { timezone: 'Mars/Olympus' }, message: "unknown time zone 'Mars/Olympus' (use an IANA name such as UTC or Europe/Moscow)" },
    { name: 'master list missing', args: { from: end('msk-1', 70) }, message: "watch list 70 does not exist on site 'msk-1' (from end); its lists: 1 'VIP', 2 'list 2', 3 'list 3', 4 'list 4', 5 'list 5', 6 'list 6', 7 'list 7', 8 'list 8', 9 'list 9', 10 'list 10', 11 'list 11', 12 'list 12'" },
    { name: 'slave list missing', args: { to: end('spb-1', 99) }, message: "watch list 99 does not exist on site 'spb-1' (to end); its lists: 1 'VIP', 2 'list 2', 3 'list 3', 4 'list 4', 5 'list 5', 6 'list 6', 7 'list 7', 8 'list 8', 9 'list 9', 10 'list 10', 11 'list 11', 12 'list 12'" },
  ];
  it.each(cases)('$name → ValidationError, nothing stored or snapshotted', async ({ args: over, message }) => {
    const w = world();
    const err = await w.service.create(args(over)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as Error).message).toBe(message);
    expect(w.links.items.size).toBe(0);
    expect(w.snapshots).toEqual([]);
  });

  it('records how many dossiers the first sync takes out of the slave list', async () => {
    const w = world();
    expect((await w.service.create(args())).replacedDossiers).toBe(50);
  });

  it('allows two different lists of one site', async () => {
    const w = world();
    const v = await w.service.create(args({ to: end('msk-1', 2) }));
    expect(v.id).toBe('msk-1.1.msk-1.2');
  });
});

describe('SyncService.create: the link', () => {
  it('applies the defaults, takes the safety snapshot of the slave and records it and the shared models', async () => {
    const w = world({ 'msk-1': FACE, 'spb-1': { ffsec_face_objects: 'face-v1' } });
    const v = await w.service.create(args());
    expect(w.snapshots).toEqual([{ site: 'spb-1', reason: 'safety before sync link msk-1.1.spb-1.2' }]);
    const stored = w.links.items.get('msk-1.1.spb-1.2');
    expect(stored).toEqual({
      id: 'msk-1.1.spb-1.2',
      number: 1,
      from: end('msk-1', 1),
      to: end('spb-1', 2),
      mode: 'continuous',
      at: '03:00',
      timezone: 'UTC',
      paused: false,
      createdAt: NOW.toISOString(),
      safetySnapshot: 'c-spb-1-1',
      models: { ffsec_face_objects: 'face-v1' },
      replacedDossiers: 50,
    });
    expect(v).toMatchObject({ ...stored, state: 'starting', lagSeconds: 0, parts: [] });
  });

  it('takes no safety snapshot with noSafetySnapshot', async () => {
    const w = world();
    const v = await w.service.create(args({ noSafetySnapshot: true, at: '23:30', timezone: 'Europe/Moscow' }));
    expect(w.snapshots).toEqual([]);
    expect(v.safetySnapshot).toBeUndefined();
    expect(w.links.items.get(v.id)).toMatchObject({ at: '23:30', timezone: 'Europe/Moscow' });
    expect('safetySnapshot' in (w.links.items.get(v.id) ?? {})).toBe(false);
  });

  it('takes a baseline snapshot of a master that has none, after the safety snapshot', async () => {
    const w = world({ 'msk-1': undefined, 'spb-1': FACE });
    await w.service.create(args());
    expect(w.snapshots).toEqual([
      { site: 'spb-1', reason: 'safety before sync link msk-1.1.spb-1.2' },
      { site: 'msk-1', reason: BASELINE_REASON },
    ]);
  });

  it('refuses different models before storing anything, naming both sites and both models', async () => {
    const w = world({ 'msk-1': FACE, 'spb-1': { ffsec_face_objects: 'face-v2', ffsec_body_objects: 'body-v1' } });
    const err = await w.service.create(args()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as Error).message).toBe("site 'msk-1' runs face model 'face-v1' (ffsec_face_objects) but site 'spb-1' runs 'face-v2'; sync needs the same model on both");
    expect(w.links.items.size).toBe(0);
  });

  it('allocates the smallest unused number', async () => {
    const w = world();
    const a = await w.service.create(args({ to: end('spb-1', 1), noSafetySnapshot: true }));
    const b = await w.service.create(args({ to: end('spb-1', 2), noSafetySnapshot: true }));
    const c = await w.service.create(args({ to: end('ekb-1', 1), noSafetySnapshot: true }));
    expect([a.number, b.number, c.number]).toEqual([1, 2, 3]);
    await w.service.remove(b.id);
    const d = await w.service.create(args({ from: end('ekb-1', 5), to: end('spb-1', 7), noSafetySnapshot: true }));
    expect(d.number).toBe(2);
  });

  it('refuses when every number is taken', async () => {
    const w = world();
    for (let n = 1; n <= MAX_LINK_NUMBER; n++) {
      const l = { id: `x.${n}`, number: n, from: end('msk-1', 100 + n), to: end('ekb-1', 100 + n), mode: 'continuous', at: '03:00', timezone: 'UTC', paused: false, createdAt: NOW.toISOString(), models: {} } as const;
      w.links.items.set(l.id, { ...l });
    }
    await expect(w.service.create(args())).rejects.toThrow(new ConflictError(`all ${MAX_LINK_NUMBER} sync link numbers are in use; remove a link first`));
  });

  it('refuses an existing link and a slave list that another link already feeds, before any snapshot', async () => {
    const w = world();
    await w.service.create(args({ noSafetySnapshot: true }));
    const again = await w.service.create(args()).catch((e: unknown) => e);
    expect(again).toBeInstanceOf(ConflictError);
    expect((again as Error).message).toBe("sync link 'msk-1.1.spb-1.2' already exists");
    const into = await w.service.create(args({ from: end('ekb-1', 3) })).catch((e: unknown) => e);
    expect(into).toBeInstanceOf(ConflictError);
    expect((into as Error).message).toBe("watch list spb-1:2 is already the slave of sync link 'msk-1.1.spb-1.2' (from msk-1:1)");
    expect(w.snapshots).toEqual([]);
  });

  it('a slave list fed meanwhile (by another controller) makes the later link yield', async () => {
    const w = world();
    const racing: SyncLink = { id: 'ekb-1.3.spb-1.2', number: 1, from: end('ekb-1', 3), to: end('spb-1', 2), mode: 'continuous', at: '03:00', timezone: 'UTC', paused: false, createdAt: new Date(NOW.getTime() - 1).toISOString(), models: {} };
    const create = w.links.create.bind(w.links);
    w.links.create = async (l) => {
      w.links.items.set(racing.id, racing); // written while this one took its snapshot
      await create(l);
    };
    const err = await w.service.create(args()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConflictError);
    expect((err as Error).message).toBe("watch list spb-1:2 became the slave of sync link 'ekb-1.3.spb-1.2' meanwhile");
    expect([...w.links.items.keys()]).toEqual(['ekb-1.3.spb-1.2']);
  });

  it('a number taken meanwhile by an earlier link makes the later one take the next', async () => {
    const w = world();
    const racing: SyncLink = { id: 'ekb-1.3.ekb-1.4', number: 1, from: end('ekb-1', 3), to: end('ekb-1', 4), mode: 'continuous', at: '03:00', timezone: 'UTC', paused: false, createdAt: new Date(NOW.getTime() - 1).toISOString(), models: {} };
    const create = w.links.create.bind(w.links);
    w.links.create = async (l) => {
      w.links.items.set(racing.id, racing);
      await create(l);
    };
    const v = await w.service.create(args({ noSafetySnapshot: true }));
    expect(v.number).toBe(2);
    expect([...w.links.items.values()].map((l) => [l.id, l.number])).toEqual([
      ['ekb-1.3.ekb-1.4', 1],
      ['msk-1.1.spb-1.2', 2],
    ]);
  });
});

describe('SyncService: list, get, pause, remove', () => {
  const status = (link: string, over: Partial<SyncPartStatus> = {}): SyncPartStatus => ({
    link, role: 'capture', site: 'msk-1', host: 'db', state: 'running', position: 1, pending: 0, handled: 0, errors: 0, resyncs: 0, updatedAt: NOW.toISOString(), ...over,
  });

  it('lists links of a site at either end, with their parts', async () => {
    const w = world();
    const a = await w.service.create(args({ noSafetySnapshot: true }));
    await w.service.create(args({ from: end('ekb-1', 1), to: end('msk-1', 9), noSafetySnapshot: true }));
    await w.service.create(args({ from: end('ekb-1', 1), to: end('spb-1', 9), noSafetySnapshot: true }));
    w.statuses.items.push(status(a.id));
    expect((await w.service.list('msk-1')).map((v) => v.id)).toEqual(['ekb-1.1.msk-1.9', 'msk-1.1.spb-1.2']);
    expect((await w.service.list()).length).toBe(3);
    expect((await w.service.get(a.id)).parts.map((p) => p.role)).toEqual(['capture']);
  });

  it('pauses and resumes, stored on the record', async () => {
    const w = world();
    const a = await w.service.create(args({ noSafetySnapshot: true }));
    expect((await w.service.setPaused(a.id, true)).state).toBe('paused');
    expect(w.links.items.get(a.id)?.paused).toBe(true);
    await w.service.setPaused(a.id, false);
    expect(w.links.items.get(a.id)?.paused).toBe(false);
  });

  it('remove deletes the record and purges its statuses only', async () => {
    const w = world();
    const a = await w.service.create(args({ noSafetySnapshot: true }));
    w.statuses.items.push(status(a.id), status('other.1.x.1'));
    await w.service.remove(a.id);
    expect(w.links.items.size).toBe(0);
    expect(w.statuses.items.map((s) => s.link)).toEqual(['other.1.x.1']);
  });

  it.each([
    ['get', (s: SyncService) => s.get('msk-1.1.spb-1.9')],
    ['setPaused', (s: SyncService) => s.setPaused('msk-1.1.spb-1.9', true)],
    ['remove', (s: SyncService) => s.remove('msk-1.1.spb-1.9')],
  ])('%s of an unknown link → NotFoundError naming it', async (_name, call) => {
    const err = await call(world().service).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotFoundError);
    expect((err as FfkError).message).toBe("sync link 'msk-1.1.spb-1.9' not found");
  });
});

describe('SyncService: NATS read grants follow the links', () => {
  it('grants each slave site its masters before a link is stored, and takes the grant back when the last link between them goes', async () => {
    const links = new MemoryLinks();
    const applied: { reads: Record<string, string[]>; stored: string[] }[] = [];
    const service = new SyncService({
      links, statuses: new MemoryStatuses(), checks: new MemoryChecks(), compare: () => Promise.reject(new Error('unused')), knownSites: () => ['msk-1', 'spb-1', 'ekb-1'],
      modelsOf: () => Promise.resolve(FACE), takeSnapshot: () => Promise.reject(new Error('unused')), now: () => NOW,
      grants: { apply: (reads) => { applied.push({ reads, stored: [...links.items.keys()] }); return Promise.resolve(); } },
    });
    const a = await service.create({ ...args(), noSafetySnapshot: true });
    expect(applied.at(-1)).toEqual({ reads: { 'spb-1': ['msk-1'] }, stored: [] });
    await service.create({ from: end('ekb-1', 1), to: end('spb-1', 3), noSafetySnapshot: true });
    await service.create({ from: end('spb-1', 4), to: end('msk-1', 5), noSafetySnapshot: true });
    expect(applied.at(-1)?.reads).toEqual({ 'spb-1': ['ekb-1', 'msk-1'], 'msk-1': ['spb-1'] });
    await service.remove(a.id);
    expect(applied.at(-1)?.reads).toEqual({ 'spb-1': ['ekb-1'], 'msk-1': ['spb-1'] });
  });

  it('leaves native links and links within one site out', () => {
    const l = (from: SyncEnd, to: SyncEnd, mode: SyncLink['mode'] = 'continuous'): SyncLink => ({ id: `${from.site}.${from.list}.${to.site}.${to.list}`, number: 1, from, to, mode, at: '03:00', timezone: 'UTC', paused: false, createdAt: NOW.toISOString(), models: {} });
    expect(syncReadsOf([l(end('msk-1', 1), end('spb-1', 2), 'native'), l(end('msk-1', 1), end('msk-1', 2)), l(end('msk-1', 3), end('ekb-1', 1), 'nightly')])).toEqual({ 'ekb-1': ['msk-1'] });
  });
});
