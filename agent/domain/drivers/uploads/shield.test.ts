import { describe, expect, it } from 'vitest';
import { changedAfterCut, shieldAction, type LiveKind, type ShieldAction, type ShieldKind } from './shield.js';

describe('shieldAction: adding a link is always allowed; removing or replacing one waits for the end of a hold', () => {
  const cases: [LiveKind, ShieldKind, ShieldAction, ShieldAction][] = [
    // live, shield, not held, held
    ['file', 'absent', 'link', 'link'],
    ['file', 'same', 'none', 'none'],
    ['file', 'stale', 'relink', 'defer'],
    ['file', 'dir', 'conflict', 'defer'],
    ['absent', 'absent', 'none', 'none'],
    ['absent', 'stale', 'unlink', 'defer'],
    ['absent', 'dir', 'rmdir', 'defer'],
    ['dir', 'dir', 'none', 'none'],
    ['dir', 'stale', 'unlink', 'defer'],
    ['dir', 'absent', 'none', 'none'],
    ['other', 'stale', 'unlink', 'defer'],
    ['other', 'dir', 'rmdir', 'defer'],
  ];
  it.each(cases)('live %s, shield %s: %s (held: %s)', (live, shield, free, held) => {
    expect(shieldAction(live, shield, false)).toBe(free);
    expect(shieldAction(live, shield, true)).toBe(held);
  });
});

describe('shieldAction while held: the shield stays the tree at the cut', () => {
  const cases: [LiveKind, ShieldKind, ShieldAction, ShieldAction][] = [
    // live, shield, live changed after the cut: held, not held
    ['file', 'absent', 'defer', 'link'], // created (or renamed, replaced) after the cut: linked at release
    ['file', 'same', 'none', 'none'], // linked before (a link bumps the ctime: it must not matter)
    ['file', 'stale', 'defer', 'relink'],
    ['file', 'dir', 'defer', 'conflict'],
  ];
  it.each(cases)('live %s changed after the cut, shield %s: %s (not held: %s)', (live, shield, held, free) => {
    expect(shieldAction(live, shield, true, true)).toBe(held);
    expect(shieldAction(live, shield, false, true)).toBe(free);
  });
});

describe('changedAfterCut: millisecond precision, the cut\'s own millisecond counts as before it', () => {
  const CUT = 1_795_000_000_123;
  const ns = (ms: number, extraNs = 0n): bigint => BigInt(ms) * 1_000_000n + extraNs;
  it.each([
    ['a millisecond before', ns(CUT - 1), false],
    ['in the cut\'s millisecond, late in it', ns(CUT, 999_999n), false],
    ['the next millisecond', ns(CUT + 1), true],
    ['long after', ns(CUT + 60_000), true],
  ] as const)('%s', (_name, ctimeNs, expected) => {
    expect(changedAfterCut(ctimeNs, CUT)).toBe(expected);
  });
  it('no cut (not held): never after', () => {
    expect(changedAfterCut(ns(CUT + 60_000), Infinity)).toBe(false);
  });
});
