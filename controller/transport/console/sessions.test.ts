import { describe, expect, it } from 'vitest';
import { parseCookies, sessionCookie, SessionStore, SESSION_COOKIE } from './sessions.js';

describe('console sessions', () => {
  it.each([
    ['one cookie', 'ffk_session=abc', { ffk_session: 'abc' }],
    ['several, spaces', 'a=1;  ffk_session=x-y_z ; b=2', { a: '1', ffk_session: 'x-y_z', b: '2' }],
    ['quoted and encoded', 'a="q"; b=%41', { a: 'q', b: 'A' }],
    ['the first of a repeated name', 'a=1; a=2', { a: '1' }],
    ['malformed parts skipped', 'novalue; =x; b=%E0%A4%A', {}],
    ['no header', undefined, {}],
  ])('parses %s', (_name, header, expected) => {
    expect(parseCookies(header)).toEqual(expected);
  });

  it('the cookie is HttpOnly, Secure and SameSite=Strict', () => {
    expect(sessionCookie('abc', 3600.7)).toBe('ffk_session=abc; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=3600');
  });

  it('a session is found by its cookie until it expires or is closed', () => {
    let now = new Date('2026-01-10T00:00:00Z');
    const store = new SessionStore(() => now);
    const id = store.open({ operator: 'vera', tokenId: 't', expiresAt: new Date('2026-01-10T01:00:00Z') });
    expect(store.fromCookie(`x=1; ${SESSION_COOKIE}=${id}`)?.session.operator).toBe('vera');
    expect(store.fromCookie(`${SESSION_COOKIE}=someone-else`)).toBeUndefined();
    now = new Date('2026-01-10T01:00:00Z');
    expect(store.fromCookie(`${SESSION_COOKIE}=${id}`)).toBeUndefined();
    const other = store.open({ operator: 'otto', tokenId: 't2', expiresAt: new Date('2026-01-10T02:00:00Z') });
    store.close(other);
    expect(store.fromCookie(`${SESSION_COOKIE}=${other}`)).toBeUndefined();
  });
});
