/**
 * Web console tokens (issue 18): an admin issues a token for an operator (`ffkeeper operators token NAME`);
 * the operator pastes it into the console's login form once and gets a session. A token is
 * `ffc1.<id>.<secret>` (base64url parts); the controller keeps only the secret's SHA-256, the operator's
 * name and the expiry. The token carries no role: every call made with it is checked against the
 * operator's role in `access.operators` at the time of the call (policy.ts). Pure apart from the store port.
 */
import { randomBytes } from 'node:crypto';
import { PermissionDeniedError, ValidationError } from '../../../shared/errors.js';
import { checkOperatorName } from '../../../shared/security/identity.js';
import { secretDigest, secretMatches } from '../../../shared/security/join-token.js';
import type { AccessConfig } from './policy.js';

export const DEFAULT_CONSOLE_TOKEN_TTL_MS = 12 * 3_600_000;
export const MAX_CONSOLE_TOKEN_TTL_MS = 7 * 86_400_000;

const PREFIX = 'ffc1';
const PART = /^[A-Za-z0-9_-]{1,64}$/;

export interface ConsoleTokenRecord {
  id: string;
  operator: string;
  secretSha256: string;
  createdAt: string;
  /** Who issued it (`operator ada`). */
  createdBy: string;
  expiresAt: string;
}

/** Where token records are kept (controller/transport/nats-console-tokens.ts: a KV bucket). */
export interface ConsoleTokenStore {
  create(record: ConsoleTokenRecord): Promise<void>;
  get(id: string): Promise<ConsoleTokenRecord | undefined>;
  /** Removes every token of `operator`; how many there were. */
  removeOperator(operator: string): Promise<number>;
}

export interface ConsoleTokenIssued {
  /** The whole token: shown once. */
  token: string;
  id: string;
  operator: string;
  expiresAt: Date;
}

/** Who a valid token speaks for, and until when. */
export interface ConsoleLogin {
  operator: string;
  tokenId: string;
  expiresAt: Date;
}

/** `ffc1.<id>.<secret>` → its parts; undefined when it is not of that shape. */
export function parseConsoleToken(text: string): { id: string; secret: string } | undefined {
  const parts = text.trim().split('.');
  if (parts.length !== 3 || parts[0] !== PREFIX || !PART.test(parts[1] ?? '') || !PART.test(parts[2] ?? '')) return undefined;
  return { id: parts[1] as string, secret: parts[2] as string };
}

export class ConsoleTokens {
  private readonly now: () => Date;

  constructor(
    private readonly deps: { store: ConsoleTokenStore; access: AccessConfig; now?: () => Date },
  ) {
    this.now = deps.now ?? (() => new Date());
  }

  /** A new token for `operator`, good for `ttlMs` (default 12 h, at most 7 days). */
  async issue(operator: string, ttlMs: number | undefined, createdBy: string): Promise<ConsoleTokenIssued> {
    checkOperatorName(operator);
    if (!this.deps.access.operators[operator]) {
      throw new ValidationError(`operator '${operator}' has no role on this controller (access.operators): a console token would allow nothing`, { field: 'name' });
    }
    const ttl = ttlMs ?? DEFAULT_CONSOLE_TOKEN_TTL_MS;
    if (!Number.isFinite(ttl) || ttl < 1000 || ttl > MAX_CONSOLE_TOKEN_TTL_MS) throw new ValidationError(`a console token lives 1 s to 7 days, not ${ttl} ms`, { field: 'ttl' });
    const id = randomBytes(9).toString('base64url');
    const secret = randomBytes(32).toString('base64url');
    const now = this.now();
    const expiresAt = new Date(now.getTime() + ttl);
    await this.deps.store.create({ id, operator, secretSha256: secretDigest(secret), createdAt: now.toISOString(), createdBy, expiresAt: expiresAt.toISOString() });
    return { token: [PREFIX, id, secret].join('.'), id, operator, expiresAt };
  }

  /** The operator a token speaks for; a PermissionDeniedError saying why when it is malformed, unknown, wrong or expired. */
  async check(text: string): Promise<ConsoleLogin> {
    const parsed = parseConsoleToken(text);
    if (!parsed) throw new PermissionDeniedError('the console token is malformed: expected ffc1.<id>.<secret> as printed by ffkeeper operators token');
    const record = await this.deps.store.get(parsed.id);
    if (!record || !secretMatches(parsed.secret, record.secretSha256)) throw new PermissionDeniedError(`console token ${parsed.id} is not valid`);
    this.refuseExpired(record);
    if (!this.deps.access.operators[record.operator]) throw new PermissionDeniedError(`operator ${record.operator} has no role on this controller (access.operators)`);
    return { operator: record.operator, tokenId: record.id, expiresAt: new Date(record.expiresAt) };
  }

  private refuseExpired(record: ConsoleTokenRecord): void {
    if (this.now().getTime() >= Date.parse(record.expiresAt)) {
      throw new PermissionDeniedError(`console token ${record.id} (operator ${record.operator}) expired at ${record.expiresAt}; ask an admin for a new one (ffkeeper operators token ${record.operator})`);
    }
  }

  /**
   * Throws the PermissionDeniedError that ends a session logged in with token `id` when the token is gone
   * (its operator was revoked) or expired: sessions check it at every request and stream update.
   */
  async assertLive(id: string): Promise<void> {
    const record = await this.deps.store.get(id);
    if (!record) throw new PermissionDeniedError(`console token ${id} was revoked (ffkeeper operators revoke): log in with a new one`);
    this.refuseExpired(record);
  }

  /** Revokes every console token of `operator` (with its certificates: `ffkeeper operators revoke`); how many. */
  revokeOperator(operator: string): Promise<number> {
    return this.deps.store.removeOperator(operator);
  }
}
