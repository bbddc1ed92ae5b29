import { describe, expect, it } from 'vitest';
import { shieldAction, type LiveKind, type ShieldAction, type ShieldKind } from './shield.js';

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
