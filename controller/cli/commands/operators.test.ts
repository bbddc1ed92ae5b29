/** `ffkeeper operators token NAME [--ttl]`: the request it sends and what it prints. */
import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../../shared/errors.js';
import { makeDeps } from '../fakes.test-support.js';
import { runOperatorsToken } from './operators.js';

describe('operators token', () => {
  it('asks for a console token with the TTL in seconds and prints it once', async () => {
    const { deps, api, cap } = makeDeps();
    await runOperatorsToken({ name: 'vera', ttl: '12h', json: false }, deps);
    expect(api.calls).toEqual([{ method: 'createConsoleToken', args: ['vera', 43_200] }]);
    const out = cap.out.join('\n');
    expect(out).toContain('console token tid for operator vera: good until 2026-01-01T12:00:00.000Z');
    expect(out).toContain('  ffc1.tid.secret');
  });

  it.each([
    ['a TTL beyond 7 days', { name: 'vera', ttl: '8d' }, 'ttl', "--ttl '8d' must be a duration like 30m, 1h or 2d (at most 7d)"],
    ['a name that is not an operator name', { name: 'vera smith', ttl: '1h' }, 'name', "'vera smith' is not an operator name (letters, digits, '.', '_', '-', '@')"],
  ])('refuses %s before calling the controller', async (_name, opts, field, message) => {
    const { deps, api } = makeDeps();
    await expect(runOperatorsToken({ ...opts, json: false }, deps)).rejects.toThrow(new ValidationError(message, { field }));
    expect(api.calls).toEqual([]);
  });
});
