import { describe, expect, it } from 'vitest';
import { PermissionDeniedError, ValidationError } from '../../../shared/errors.js';
import { ConsoleTokens, parseConsoleToken, type ConsoleTokenRecord, type ConsoleTokenStore } from './console-tokens.js';

class MemoryStore implements ConsoleTokenStore {
  readonly records = new Map<string, ConsoleTokenRecord>();
  create(r: ConsoleTokenRecord): Promise<void> {
    this.records.set(r.id, r);
    return Promise.resolve();
  }
  get(id: string): Promise<ConsoleTokenRecord | undefined> {
    return Promise.resolve(this.records.get(id));
  }
  removeOperator(operator: string): Promise<number> {
    const mine = [...this.records.values()].filter((r) => r.operator === operator);
    for (const r of mine) this.records.delete(r.id);
    return Promise.resolve(mine.length);
  }
}

function setup() {
  let now = new Date('2026-01-10T00:00:00Z');
  const store = new MemoryStore();
  const tokens = new ConsoleTokens({ store, access: { operators: { vera: { role: 'viewer' } }, scratchSites: [] }, now: () => now });
  return { store, tokens, advance: (ms: number) => (now = new Date(now.getTime() + ms)) };
}

describe('console tokens', () => {
  it('a token speaks for its operator until it expires; the store keeps only a hash of the secret', async () => {
    const { store, tokens, advance } = setup();
    const t = await tokens.issue('vera', 60_000, 'operator ada');
    const secret = t.token.split('.')[2] ?? '';
    expect(t.token).toMatch(/^ffc1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
    expect(JSON.stringify([...store.records.values()])).not.toContain(secret);
    expect(await tokens.check(t.token)).toEqual({ operator: 'vera', tokenId: t.id, expiresAt: new Date('2026-01-10T00:01:00Z') });
    advance(60_000);
    await expect(tokens.check(t.token)).rejects.toThrow(new PermissionDeniedError(`console token ${t.id} (operator vera) expired at 2026-01-10T00:01:00.000Z; ask an admin for a new one (ffkeeper operators token vera)`));
  });

  it.each([
    ['malformed', 'hello', 'the console token is malformed: expected ffc1.<id>.<secret> as printed by ffkeeper operators token'],
    ['unknown id', 'ffc1.nope.secret', 'console token nope is not valid'],
  ])('a %s token is refused', async (_name, text, message) => {
    const { tokens } = setup();
    await expect(tokens.check(text)).rejects.toThrow(new PermissionDeniedError(message));
  });

  it("revoking an operator removes every token of its own (its sessions are no longer live) and leaves the others'", async () => {
    const { store, tokens } = setup();
    const otherTokens = new ConsoleTokens({ store, access: { operators: { vera: { role: 'viewer' }, otto: { role: 'operator' } }, scratchSites: [] } });
    const [v1, v2, o1] = [await tokens.issue('vera', 60_000, 'operator ada'), await tokens.issue('vera', 60_000, 'operator ada'), await otherTokens.issue('otto', 60_000, 'operator ada')];
    await tokens.assertLive(v1.id);
    expect(await tokens.revokeOperator('vera')).toBe(2);
    for (const t of [v1, v2]) {
      await expect(tokens.assertLive(t.id)).rejects.toThrow(new PermissionDeniedError(`console token ${t.id} was revoked (ffkeeper operators revoke): log in with a new one`));
      await expect(tokens.check(t.token)).rejects.toThrow(PermissionDeniedError);
    }
    await otherTokens.assertLive(o1.id);
    expect(await tokens.revokeOperator('vera')).toBe(0);
  });

  it('a session whose token expired is not live', async () => {
    const { tokens, advance } = setup();
    const t = await tokens.issue('vera', 60_000, 'operator ada');
    advance(60_000);
    await expect(tokens.assertLive(t.id)).rejects.toThrow(new PermissionDeniedError(`console token ${t.id} (operator vera) expired at 2026-01-10T00:01:00.000Z; ask an admin for a new one (ffkeeper operators token vera)`));
  });

  it('a wrong secret is refused', async () => {
    const { tokens } = setup();
    const t = await tokens.issue('vera', undefined, 'operator ada');
    await expect(tokens.check(`ffc1.${t.id}.wrongsecret`)).rejects.toThrow(new PermissionDeniedError(`console token ${t.id} is not valid`));
  });

  it('is issued only for an operator with a role, for 1 s to 7 days', async () => {
    const { tokens } = setup();
    await expect(tokens.issue('mallory', undefined, 'operator ada')).rejects.toThrow(ValidationError);
    await expect(tokens.issue('vera', 8 * 86_400_000, 'operator ada')).rejects.toThrow('a console token lives 1 s to 7 days');
    expect((await tokens.issue('vera', undefined, 'operator ada')).expiresAt).toEqual(new Date('2026-01-10T12:00:00Z'));
  });

  it('parses only ffc1.<id>.<secret>', () => {
    expect(parseConsoleToken(' ffc1.abc.def ')).toEqual({ id: 'abc', secret: 'def' });
    expect(parseConsoleToken('ffk1.abc.def')).toBeUndefined();
    expect(parseConsoleToken('ffc1.a/b.def')).toBeUndefined();
  });
});
