/**
 * Web console sessions: a login with a console token gets a random session id in an HttpOnly, Secure,
 * SameSite=Strict cookie; the session lives in this controller's memory until the token expires or the
 * operator logs out (a restarted controller asks for the token again). Cookie parsing and formatting are pure.
 */
import { randomBytes } from 'node:crypto';

export const SESSION_COOKIE = 'ffk_session';

export interface ConsoleSession {
  operator: string;
  tokenId: string;
  expiresAt: Date;
}

/** `Cookie:` header → name/value pairs (the first of a repeated name wins; malformed pairs skipped). */
export function parseCookies(header: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const name = part.slice(0, eq).trim();
    let value = part.slice(eq + 1).trim();
    if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) value = value.slice(1, -1);
    if (!name || name in out) continue;
    try {
      out[name] = decodeURIComponent(value);
    } catch {
      // A value that is not valid percent-encoding is not ours.
    }
  }
  return out;
}

/** The `Set-Cookie` value of a session (`maxAgeSeconds` 0: delete it). */
export function sessionCookie(id: string, maxAgeSeconds: number): string {
  return `${SESSION_COOKIE}=${id}; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=${Math.max(0, Math.floor(maxAgeSeconds))}`;
}

export class SessionStore {
  private readonly sessions = new Map<string, ConsoleSession>();

  constructor(private readonly now: () => Date = () => new Date()) {}

  /** A new session; returns its id (256 random bits). */
  open(session: ConsoleSession): string {
    this.sweep();
    const id = randomBytes(32).toString('base64url');
    this.sessions.set(id, session);
    return id;
  }

  /** The live session of a `Cookie:` header, if any. */
  fromCookie(header: string | undefined): { id: string; session: ConsoleSession } | undefined {
    const id = parseCookies(header)[SESSION_COOKIE];
    if (!id) return undefined;
    const session = this.sessions.get(id);
    if (!session) return undefined;
    if (session.expiresAt.getTime() <= this.now().getTime()) {
      this.sessions.delete(id);
      return undefined;
    }
    return { id, session };
  }

  close(id: string): void {
    this.sessions.delete(id);
  }

  private sweep(): void {
    const now = this.now().getTime();
    for (const [id, s] of this.sessions) if (s.expiresAt.getTime() <= now) this.sessions.delete(id);
  }
}
