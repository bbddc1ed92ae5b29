/** The flags every bench case understands. */
import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../shared/errors.js';
import { parseBenchArgs } from './args.js';

describe('bench flags', () => {
  it('parses the common flags and the case’s own', () => {
    const { common, extra } = parseBenchArgs(['--quick', '--runs', '7', '--strict', '--json', 'out.json', '--rate', '300'], ['rate']);
    expect(common).toEqual({ quick: true, strict: true, runs: 7, results: undefined, noResults: false, json: 'out.json', help: false });
    expect(extra).toEqual({ rate: '300' });
  });

  it.each([
    { argv: ['--runs', '0'], message: "--runs must be an integer ≥ 1, got '0'" },
    { argv: ['--runs', '2.5'], message: "--runs must be an integer ≥ 1, got '2.5'" },
    { argv: ['--runs', 'many'], message: "--runs must be an integer ≥ 1, got 'many'" },
    { argv: ['--fast'], message: "Unknown option '--fast'" },
  ])('refuses $argv with a ValidationError naming the flag', ({ argv, message }) => {
    expect(() => parseBenchArgs(argv)).toThrow(ValidationError);
    expect(() => parseBenchArgs(argv)).toThrow(message);
  });
});
