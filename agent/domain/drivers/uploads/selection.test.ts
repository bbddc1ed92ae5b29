import { describe, expect, it } from 'vitest';
import type { LiveState, TreeEntry } from './ports.js';
import { MAX_KEPT_EMPTY_DIRS, MAX_RECHECK, contentExclude, selectForBackup, shieldOnlyBelongs, withinCut } from './selection.js';

const CUT = 1_795_000_000_123; // ms
const ns = (ms: number, extraNs = 0): bigint => BigInt(ms) * 1_000_000n + BigInt(extraNs);

async function* from(entries: TreeEntry[]): AsyncGenerator<TreeEntry> {
  yield* entries;
}

describe('withinCut', () => {
  it.each([
    ['long before', ns(CUT - 60_000), true],
    ['the cut millisecond, start', ns(CUT), true],
    ['the cut millisecond, last nanosecond', ns(CUT, 999_999), true],
    ['the next millisecond', ns(CUT + 1), false],
    ['an hour later', ns(CUT + 3_600_000), false],
    ['before the epoch', -5_500_000n, true],
  ])('%s', (_name, mtimeNs, expected) => {
    expect(withinCut(mtimeNs, CUT)).toBe(expected);
  });
});

describe('selectForBackup', () => {
  const root = '/data/uploads';
  const file = (p: string, ms: number, size = 10): TreeEntry => ({ type: 'file', path: `${root}/${p}`, size, mtimeNs: ns(ms) });
  const dir = (p: string, ms: number, empty: boolean): TreeEntry => ({ type: 'dir', path: p ? `${root}/${p}` : root, mtimeNs: ns(ms), empty });

  it('keeps files and symlinks up to the cut, counts the newer ones, keeps empty directories with their content excluded', async () => {
    const sel = await selectForBackup({
      roots: [root],
      cutMs: CUT,
      entries: from([
        file('a.jpg', CUT - 5, 100),
        file('b.jpg', CUT, 200),
        file('late.jpg', CUT + 1, 300),
        { type: 'symlink', path: `${root}/link`, mtimeNs: ns(CUT - 1) },
        { type: 'other', path: `${root}/fifo`, what: 'fifo' },
        { type: 'unreadable', path: `${root}/locked`, message: 'EACCES' },
        dir('empty', CUT - 10, true),
        dir('empty-late', CUT + 10, true),
        dir('full', CUT + 10, false),
        dir('', CUT + 10, false),
      ]),
    });
    expect(sel.paths).toEqual([`${root}/a.jpg`, `${root}/b.jpg`, `${root}/link`, `${root}/empty`]);
    expect(sel.excludes).toEqual([`${root}/empty/*`]);
    expect(sel).toMatchObject({ files: 2, bytes: 300, symlinks: 1, emptyDirsKept: 1, newerThanCut: 2 });
    expect(sel.newerThanCutSample).toEqual([`${root}/late.jpg`, `${root}/empty-late`]);
    expect(sel.otherSkipped).toEqual([`${root}/fifo`]);
    expect(sel.unreadable).toEqual([{ path: `${root}/locked`, message: 'EACCES' }]);
  });

  it('keeps a root with nothing selected below it as an empty directory, so every root is in the snapshot', async () => {
    const other = '/data/ffupload';
    const sel = await selectForBackup({
      roots: [root, other],
      cutMs: CUT,
      entries: from([file('late.jpg', CUT + 5), dir('', CUT + 5, false), { type: 'file', path: `${other}/x`, size: 1, mtimeNs: ns(CUT) }]),
    });
    expect(sel.paths).toEqual([`${other}/x`, root]);
    expect(sel.excludes).toEqual([`${root}/*`]);
  });

  it(`keeps at most ${MAX_KEPT_EMPTY_DIRS} empty directories and counts the rest`, async () => {
    const dirs = Array.from({ length: MAX_KEPT_EMPTY_DIRS + 3 }, (_, i) => dir(`d${i}`, CUT, true));
    const sel = await selectForBackup({ roots: [root], cutMs: CUT, entries: from([...dirs, file('a', CUT)]) });
    expect(sel).toMatchObject({ emptyDirsKept: MAX_KEPT_EMPTY_DIRS, emptyDirsNotKept: 3 });
    expect(sel.excludes).toHaveLength(MAX_KEPT_EMPTY_DIRS);
  });

  it('escapes glob characters of kept directories', () => {
    expect(contentExclude('/u/[a]*?\\b')).toBe('/u/\\[a\\]\\*\\?\\\\b/*');
  });

  it('reports progress every N entries', async () => {
    const counts: number[] = [];
    const entries = Array.from({ length: 25 }, (_, i) => file(`f${i}`, CUT));
    await selectForBackup({ roots: [root], cutMs: CUT, entries: from(entries), progressEvery: 10, onCount: (n) => counts.push(n) });
    expect(counts).toEqual([10, 20]);
  });
});

describe('selectForBackup with a deletion shield', () => {
  const root = '/data/uploads';
  const dir = (p: string, ms: number, empty: boolean): TreeEntry => ({ type: 'dir', path: p ? `${root}/${p}` : root, mtimeNs: ns(ms), empty });
  const sh = `${root}/.ffk-shield`;
  const shieldOnly = (rel: string, ms: number, live: LiveState): TreeEntry => ({
    type: 'shield-only', path: `${sh}/${rel}`, livePath: `${root}/${rel}`, size: 10, mtimeNs: ns(ms), live,
  });

  it.each([
    ['deleted after the cut', CUT - 5, { kind: 'absent' } as LiveState, true],
    ['created and deleted after the cut', CUT + 1, { kind: 'absent' } as LiveState, false],
    ['replaced after the cut (the shield has the cut version)', CUT - 5, { kind: 'file', mtimeNs: ns(CUT + 2) } as LiveState, true],
    ['replaced before the cut (the live file is the cut version)', CUT - 5, { kind: 'file', mtimeNs: ns(CUT - 1) } as LiveState, false],
    ['replaced by a directory or symlink', CUT - 5, { kind: 'other' } as LiveState, true],
  ])('a shield-only file %s: taken = %s', async (_name, ms, live, taken) => {
    const entry = shieldOnly('f.jpg', ms, live);
    expect(shieldOnlyBelongs({ mtimeNs: ns(ms), live }, CUT)).toBe(taken);
    const sel = await selectForBackup({ roots: [root], cutMs: CUT, shielded: true, entries: from([entry, dir('', CUT, false)]) });
    expect(sel.paths).toEqual(taken ? [`${sh}/f.jpg`] : [root]);
    expect(sel).toMatchObject({ shieldOnly: taken ? 1 : 0, files: taken ? 1 : 0, recheck: [`${root}/f.jpg`] });
  });

  it('reads shielded files through their link, counts and rechecks unshielded ones (only in a shielded walk)', async () => {
    const entries = (): TreeEntry[] => [
      { type: 'file', path: `${root}/a.jpg`, size: 3, mtimeNs: ns(CUT - 1), shieldPath: `${sh}/a.jpg` },
      { type: 'file', path: `${root}/b.jpg`, size: 4, mtimeNs: ns(CUT - 1) },
      { type: 'file', path: `${root}/late.jpg`, size: 4, mtimeNs: ns(CUT + 1) },
    ];
    const shielded = await selectForBackup({ roots: [root], cutMs: CUT, shielded: true, entries: from(entries()) });
    expect(shielded.paths).toEqual([`${sh}/a.jpg`, `${root}/b.jpg`]);
    expect(shielded).toMatchObject({ files: 2, bytes: 7, fromShield: 1, unshielded: 1, recheck: [`${root}/b.jpg`], newerThanCut: 1 });
    const plain = await selectForBackup({ roots: [root], cutMs: CUT, entries: from(entries()) });
    expect(plain).toMatchObject({ unshielded: 0, recheck: [] });
  });

  it('counts linked files of a trusted walk (sizes unread) and, when told to count only, lists no file but still covers the root', async () => {
    const other = '/data/ffupload';
    const entries = (): TreeEntry[] => [
      { type: 'linked', path: root, shieldDir: sh, names: ['a.jpg'] },
      { type: 'file', path: `${root}/b.jpg`, size: 4, mtimeNs: ns(CUT - 1) },
      dir('', CUT, false),
      { type: 'dir', path: other, mtimeNs: ns(CUT), empty: true },
    ];
    const listed = await selectForBackup({ roots: [root, other], cutMs: CUT, shielded: true, entries: from(entries()) });
    expect(listed.paths).toEqual([`${sh}/a.jpg`, `${root}/b.jpg`, other]);
    expect(listed).toMatchObject({ files: 2, bytes: 4, fromShield: 1, unsized: 1, unshielded: 1, adopt: [`${root}/b.jpg`] });
    const counted = await selectForBackup({ roots: [root, other], cutMs: CUT, shielded: true, listFiles: false, entries: from(entries()) });
    expect(counted.paths).toEqual([other]); // the empty root is still kept; the covered one adds nothing
    expect(counted).toMatchObject({ files: 2, fromShield: 1, unsized: 1, adopt: [`${root}/b.jpg`] });
  });

  it(`hands at most ${MAX_RECHECK} paths to the recheck and flags the overflow`, async () => {
    const many = Array.from({ length: MAX_RECHECK + 2 }, (_, i) => shieldOnly(`f${i}`, CUT + 1, { kind: 'absent' }));
    const sel = await selectForBackup({ roots: [root], cutMs: CUT, shielded: true, entries: from(many) });
    expect(sel.recheck).toHaveLength(MAX_RECHECK);
    expect(sel.recheckOverflow).toBe(true);
  });
});
