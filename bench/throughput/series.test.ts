/** Series arithmetic and table cells of the throughput cases. */
import { describe, expect, it } from 'vitest';
import { barLine, cell, seriesTable } from './format.js';
import { newSeries, rates, record, rotate, speedup, timeRatio } from './series.js';

function series(label: string, ms: number[], bytes: number): ReturnType<typeof newSeries> {
  const s = newSeries(label, label);
  for (const x of ms) record(s, x, bytes);
  return s;
}

describe('throughput series', () => {
  it.each([
    { round: 0, order: ['a', 'b', 'c'] },
    { round: 1, order: ['b', 'c', 'a'] },
    { round: 2, order: ['c', 'a', 'b'] },
    { round: 3, order: ['a', 'b', 'c'] },
  ])('round $round runs the variants in order $order', ({ round, order }) => {
    expect(rotate(['a', 'b', 'c'], round)).toEqual(order);
  });

  it('turns runs into MB/s and compares medians', () => {
    const agent = series('agent', [2000, 4000, 2500], 100e6); // 50, 25, 40 MB/s
    const peer = series('peer', [5000, 4000, 6000], 100e6); // 20, 25, 16.67 MB/s
    expect(rates(agent)).toEqual([50, 25, 40]);
    expect(speedup(agent, peer)).toBe(2); // 40 / 20
    expect(timeRatio(agent, peer)).toBe(0.5); // 2500 / 5000
    expect(speedup(agent, newSeries('none', 'none'))).toBeNaN();
  });

  it('escapes a shell pipe in a table cell and marks the reference row', () => {
    expect(cell('pg_dump | restic backup --stdin')).toBe('pg_dump \\| restic backup --stdin');
    const agent = series('ffkeeper agent', [1000], 1e6);
    const piped = series('a | b', [2000], 1e6);
    const [header, , first, second] = seriesTable([agent, piped], agent);
    expect(header?.split(' | ')).toHaveLength(8);
    expect(first).toBe('| ffkeeper agent | 1 | 1.00 s | 1.00 s | 1.00 s | 1.00 MB/s | 1.00 MB/s–1.00 MB/s | — |');
    expect(second).toBe('| a \\| b | 1 | 2.00 s | 2.00 s | 2.00 s | 0.50 MB/s | 0.50 MB/s–0.50 MB/s | 2.00× |');
  });

  it.each([
    { value: 0.95, op: '≥' as const, target: 0.9, pass: true },
    { value: 0.82, op: '≥' as const, target: 0.9, pass: false },
    { value: 0.43, op: '≤' as const, target: 0.1, pass: false },
    { value: Number.NaN, op: '≥' as const, target: 3, pass: false },
  ])('bar $op $target with $value: pass=$pass', ({ value, op, target, pass }) => {
    const bar = barLine('x', value, { op, target });
    expect(bar.pass).toBe(pass);
    expect(bar.line.endsWith(pass ? 'PASS' : 'FAIL')).toBe(true);
  });
});
