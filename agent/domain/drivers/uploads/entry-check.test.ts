import { describe, expect, it } from 'vitest';
import { SymlinkChecker, entryProblem } from './entry-check.js';

const R = '/data/uploads';

describe('SymlinkChecker', () => {
  it.each([
    ['a sibling file', { [`${R}/a/link`]: 'file.jpg' }, []],
    ['up and down inside', { [`${R}/a/b/link`]: '../../c/d.jpg' }, []],
    ['the root itself', { [`${R}/self`]: '.' }, []],
    ['an absolute path inside', { [`${R}/a/link`]: `${R}/c/d.jpg` }, []],
    ['a dangling name inside', { [`${R}/a/link`]: 'nowhere/yet' }, []],
    ['a chain staying inside', { [`${R}/l1`]: 'l2', [`${R}/l2`]: 'a/b' }, []],
    ['an absolute path outside', { [`${R}/a/link`]: '/etc/passwd' }, [[`${R}/a/link`, "points outside '/data/uploads'"]]],
    ['a sibling of the root sharing its prefix', { [`${R}/a`]: '/data/uploads-old/x' }, [[`${R}/a`, 'points outside']]],
    ['an absolute path with .. climbing out', { [`${R}/a`]: `${R}/../../etc` }, [[`${R}/a`, 'climbs out of']]],
    ['a relative path climbing out', { [`${R}/a/link`]: '../../x' }, [[`${R}/a/link`, 'climbs out of']]],
    ['out and back in', { [`${R}/link`]: '../uploads/x' }, [[`${R}/link`, 'climbs out of']]],
    [
      'through a link to the root, then up',
      { [`${R}/self`]: '.', [`${R}/a/link`]: '../self/..' },
      [[`${R}/a/link`, 'climbs out of']],
    ],
    [
      'through a link that escapes',
      { [`${R}/out`]: '/tmp', [`${R}/via`]: 'out/x' },
      [
        [`${R}/out`, 'points outside'],
        [`${R}/via`, `goes through '${R}/out', which points outside`],
      ],
    ],
    ['a loop', { [`${R}/a`]: 'b', [`${R}/b`]: 'a' }, [[`${R}/a`, 'nests more than 40 symlinks']]],
  ])('%s', (_name, links: Record<string, string>, expected: string[][]) => {
    const checker = new SymlinkChecker(R);
    for (const [at, target] of Object.entries(links)) checker.add(at, target);
    const problems = checker.problems();
    const wanted = expected.length === 0 ? [] : expected;
    expect(problems.filter((p) => wanted.some(([entry]) => entry === p.entry)).length).toBe(wanted.length);
    for (const [entry, reason] of wanted) {
      const found = problems.find((p) => p.entry === entry);
      expect(found?.reason).toContain(reason);
      expect(found?.reason).toContain(`is a symlink to '${links[entry ?? '']}'`);
    }
    if (wanted.length === 0) expect(problems).toEqual([]);
  });
});

describe('entryProblem', () => {
  it.each([
    [{ type: 'file' as const, path: `${R}/a`, size: 1, mtimeNs: 0n }, undefined],
    [{ type: 'dir' as const, path: `${R}/a`, mtimeNs: 0n, empty: false }, undefined],
    [{ type: 'symlink' as const, path: `${R}/a`, mtimeNs: 0n, target: 'x' }, undefined],
    [{ type: 'other' as const, path: `${R}/dev`, what: 'block-device' as const }, 'is a block-device, not a file, directory or symlink'],
    [{ type: 'unreadable' as const, path: `${R}/d`, message: 'EACCES' }, 'could not be read (EACCES)'],
    [{ type: 'file' as const, path: `${R}/..`, size: 1, mtimeNs: 0n }, "has an invalid name '..'"],
  ])('%o', (entry, expected) => {
    expect(entryProblem(entry)).toBe(expected);
  });
});
