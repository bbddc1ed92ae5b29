import { describe, expect, it } from 'vitest';
import { formatBytes, formatDuration, formatEta, percent } from './units.js';

describe('formatBytes', () => {
  it.each([
    [0, '0 B'],
    [1023, '1023 B'],
    [1024, '1.0 KiB'],
    [1536, '1.5 KiB'],
    [12 * 1024 * 1024, '12.0 MiB'],
    [5 * 1024 ** 3, '5.0 GiB'],
    [3 * 1024 ** 4, '3.0 TiB'],
  ])('%d bytes → %s', (n, text) => {
    expect(formatBytes(n)).toBe(text);
  });
});

describe('formatDuration', () => {
  it.each([
    [0, '0ms'],
    [23, '23ms'],
    [999, '999ms'],
    [1000, '1.0s'],
    [1260, '1.2s'],
    [42_000, '42s'],
    [192_000, '3m12s'],
    [3_900_000, '1h05m'],
  ])('%d ms → %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });
});

describe('formatEta and percent', () => {
  it.each([
    [0, '?'],
    [-1, '?'],
    [5, '5s'],
    [150, '2m30s'],
  ])('ETA of %d s → %s', (s, text) => {
    expect(formatEta(s)).toBe(text);
  });

  it.each([
    [0, 0, '-'],
    [30, 100, '30%'],
    [120, 100, '100%'],
  ])('%d of %d → %s', (done, total, text) => {
    expect(percent(done, total)).toBe(text);
  });
});
