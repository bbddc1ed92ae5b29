import { describe, expect, it } from 'vitest';
import { ev } from './fakes.test-support.js';
import { ProgressDisplay, describeProgress } from './progress.js';

const MiB = 1024 * 1024;

function plain(intervalMs?: number): { display: ProgressDisplay; text: () => string } {
  const chunks: string[] = [];
  const display = new ProgressDisplay({ tty: false, write: (raw) => chunks.push(raw), ...(intervalMs ? { intervalMs } : {}) });
  return { display, text: () => chunks.join('') };
}

describe('describeProgress', () => {
  it.each([
    [{ bytesDone: 12 * MiB, bytesTotal: 40 * MiB, filesDone: 3, filesTotal: 10, etaSeconds: 5 }, '12.0 MiB/40.0 MiB 30%  3/10 files  ETA 5s'],
    [{ bytesDone: 40 * MiB, bytesTotal: 40 * MiB, filesDone: 10, filesTotal: 10, etaSeconds: 0 }, '40.0 MiB/40.0 MiB 100%  10/10 files  done'],
    [{ bytesDone: 2048, bytesTotal: 0, filesDone: 7, filesTotal: 0, etaSeconds: 0 }, '2.0 KiB  7 files  ETA ?'],
  ])('%o → %s', (p, text) => {
    expect(describeProgress({ component: 'postgres:main', ...p })).toBe(text);
  });
});

describe('ProgressDisplay, plain (not a terminal)', () => {
  it('prints steps at once and progress at most once a second, by event time, then flushes the last state', () => {
    const { display, text } = plain();
    const events = [
      ev.message(0, 'new', 'snapshot job j-1 started for site msk-1'),
      ev.message(100, 'freeze', 'freeze'),
      ev.message(130, 'thaw', 'thawed after 23 ms'),
      ev.progress(200, 'upload', { component: 'postgres:main', bytesDone: 1 * MiB, bytesTotal: 4 * MiB, filesDone: 0, filesTotal: 1, etaSeconds: 3 }),
      ev.progress(400, 'upload', { component: 'tarantool:shard-1', bytesDone: 0, bytesTotal: 2 * MiB, filesDone: 0, filesTotal: 2, etaSeconds: 9 }),
      ev.progress(700, 'upload', { component: 'postgres:main', bytesDone: 2 * MiB, bytesTotal: 4 * MiB, filesDone: 0, filesTotal: 1, etaSeconds: 2 }),
      ev.progress(1100, 'upload', { component: 'postgres:main', bytesDone: 3 * MiB, bytesTotal: 4 * MiB, filesDone: 0, filesTotal: 1, etaSeconds: 1 }),
      ev.progress(1500, 'upload', { component: 'tarantool:shard-1', bytesDone: 1 * MiB, bytesTotal: 2 * MiB, filesDone: 1, filesTotal: 2, etaSeconds: 4 }),
      ev.progress(2100, 'upload', { component: 'postgres:main', bytesDone: 4 * MiB, bytesTotal: 4 * MiB, filesDone: 1, filesTotal: 1, etaSeconds: 0 }),
      ev.progress(2300, 'upload', { component: 'tarantool:shard-1', bytesDone: 2 * MiB, bytesTotal: 2 * MiB, filesDone: 2, filesTotal: 2, etaSeconds: 0 }),
      ev.message(2400, 'seal', 'manifest written'),
      ev.outcome(2500, 'Completed'),
    ];
    for (const e of events) display.onEvent(e);
    expect(text()).toBe(
      [
        '[00:00] new: snapshot job j-1 started for site msk-1',
        '[00:00] freeze',
        '[00:00] thaw: thawed after 23 ms',
        // first sight of each component prints at once
        '[00:00] upload postgres:main  1.0 MiB/4.0 MiB 25%  0/1 files  ETA 3s',
        '[00:00] upload tarantool:shard-1  0 B/2.0 MiB 0%  0/2 files  ETA 9s',
        // 700 is held back (within 1 s of 400); 1100 < 400 + 1000 too; 1500 prints both changed components
        '[00:01] upload postgres:main  3.0 MiB/4.0 MiB 75%  0/1 files  ETA 1s',
        '[00:01] upload tarantool:shard-1  1.0 MiB/2.0 MiB 50%  1/2 files  ETA 4s',
        '[00:02] seal: manifest written',
        // held back until the outcome: the final state of each component
        '[00:02] upload postgres:main  4.0 MiB/4.0 MiB 100%  1/1 files  done',
        '[00:02] upload tarantool:shard-1  2.0 MiB/2.0 MiB 100%  2/2 files  done',
        '',
      ].join('\n'),
    );
  });

  it('gives the same output for the same events', () => {
    const run = (): string => {
      const { display, text } = plain(500);
      for (let i = 0; i < 20; i++) {
        display.onEvent(ev.progress(i * 130, 'upload', { component: 'uploads:media', bytesDone: i * 1024, bytesTotal: 20 * 1024, filesDone: i, filesTotal: 20, etaSeconds: 20 - i }));
      }
      display.finish();
      return text();
    };
    const first = run();
    expect(first).toBe(run());
    // 20 events over 2.47 s with a 500 ms interval: first sight + one per interval + the final flush
    expect(first.trimEnd().split('\n')).toHaveLength(6);
    expect(first.trimEnd().split('\n').at(-1)).toBe('[00:02] upload uploads:media  19.0 KiB/20.0 KiB 95%  19/20 files  ETA 1s');
  });

  it('finish() is idempotent', () => {
    const { display, text } = plain();
    display.onEvent(ev.progress(0, 'upload', { component: 'postgres:main', bytesDone: 1, bytesTotal: 2, filesDone: 0, filesTotal: 1 }));
    display.onEvent(ev.progress(10, 'upload', { component: 'postgres:main', bytesDone: 2, bytesTotal: 2, filesDone: 1, filesTotal: 1 }));
    display.finish();
    display.finish();
    expect(text().trimEnd().split('\n')).toHaveLength(2);
  });
});

describe('ProgressDisplay, terminal', () => {
  it('redraws the component block in place, with a total line, and keeps messages above it', () => {
    const chunks: string[] = [];
    const display = new ProgressDisplay({ tty: true, write: (raw) => chunks.push(raw), columns: 200 });
    display.onEvent(ev.progress(0, 'upload', { component: 'postgres:main', bytesDone: 1 * MiB, bytesTotal: 4 * MiB, filesDone: 0, filesTotal: 1, etaSeconds: 3 }));
    display.onEvent(ev.progress(10, 'upload', { component: 'tarantool:shard-1', bytesDone: 1 * MiB, bytesTotal: 4 * MiB, filesDone: 0, filesTotal: 2, etaSeconds: 9 }));
    display.onEvent(ev.progress(20, 'upload', { component: 'postgres:main', bytesDone: 2 * MiB, bytesTotal: 4 * MiB, filesDone: 0, filesTotal: 1, etaSeconds: 2 }));
    display.onEvent(ev.message(300, 'seal', 'manifest written'));
    display.onEvent(ev.outcome(400, 'Completed'));

    expect(chunks[0]).toBe('  postgres:main  [#####---------------]  1.0 MiB/4.0 MiB 25%  0/1 files  ETA 3s\n');
    // the second component: move up one line, clear, draw both plus the total
    expect(chunks[1]).toBe('\x1b[1F\x1b[J');
    expect(chunks[2]).toContain('tarantool:shard-1');
    expect(chunks[2]).toContain('  total              [#####---------------]  2.0 MiB/8.0 MiB 25%  0/3 files  ETA 9s\n');
    // 20 ms is within the 100 ms redraw interval: nothing drawn for it
    expect(chunks[3]).toBe('\x1b[3F\x1b[J');
    expect(chunks[4]).toBe('[00:00] seal: manifest written\n');
    // finish() on the outcome draws the latest state, including the held-back 2 MiB
    expect(chunks.at(-1)).toContain('postgres:main      [##########----------]  2.0 MiB/4.0 MiB 50%');
  });

  it('cuts lines to the terminal width so the redraw can count them', () => {
    const chunks: string[] = [];
    const display = new ProgressDisplay({ tty: true, write: (raw) => chunks.push(raw), columns: 30 });
    display.onEvent(ev.progress(0, 'upload', { component: 'postgres:main', bytesDone: 1, bytesTotal: 4, filesDone: 0, filesTotal: 1 }));
    expect(chunks[0]).toBe(`${'  postgres:main  [#####---------------]'.slice(0, 29)}\n`);
  });
});
