import { describe, expect, it } from 'vitest';
import { unifiedDiff } from './text-diff.js';

describe('unifiedDiff', () => {
  it('is empty for equal texts', () => {
    expect(unifiedDiff('a\nb\n', 'a\nb\n', 'x', 'x')).toBe('');
  });

  it('shows a changed line with context, removal first, and 1-based hunk positions', () => {
    const from = ['1', '2', '3', '4', '5', '6', '7', '8', '9'].join('\n') + '\n';
    const to = from.replace('5\n', 'five\n');
    expect(unifiedDiff(from, to, 'a/f', 'b/f')).toBe(['--- a/f', '+++ b/f', '@@ -3,5 +3,5 @@', ' 3', ' 4', '-5', '+five', ' 6', ' 7', ''].join('\n'));
  });

  it('joins changes whose context overlaps into one hunk and keeps distant ones apart', () => {
    const from = Array.from({ length: 20 }, (_, i) => `l${i + 1}`).join('\n');
    const to = from.replace('l3', 'L3').replace('l5', 'L5').replace('l18', 'L18');
    const hunks = unifiedDiff(from, to, 'a', 'b').split('\n').filter((l) => l.startsWith('@@'));
    expect(hunks).toEqual(['@@ -1,7 +1,7 @@', '@@ -16,5 +16,5 @@']);
  });

  it('diffs a new file from nothing', () => {
    expect(unifiedDiff('', 'x\ny\n', '/dev/null', 'new')).toBe(['--- /dev/null', '+++ new', '@@ -0,0 +1,2 @@', '+x', '+y', ''].join('\n'));
  });
});
