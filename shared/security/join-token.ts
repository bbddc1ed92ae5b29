/**
 * A join token (issue 16): `ffk1.<id>.<secret>.<ca>` — the token's id (what the controller stores it by),
 * a 256-bit secret (the controller keeps only its SHA-256), and the SHA-256 of the fleet CA's certificate
 * (DER), so that `ffkeeper-agent enrol` trusts the controller it enrols with before it has any
 * certificate. All parts are base64url; the token is one shell word.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { ValidationError } from '../errors.js';

export interface JoinToken {
  id: string;
  secret: string;
  /** base64url SHA-256 of the CA certificate's DER. */
  caSha256: string;
}

const PREFIX = 'ffk1';
const PART = /^[A-Za-z0-9_-]+$/;

export function newJoinToken(caSha256: string): JoinToken {
  return { id: randomBytes(9).toString('base64url'), secret: randomBytes(32).toString('base64url'), caSha256 };
}

export function formatJoinToken(t: JoinToken): string {
  return [PREFIX, t.id, t.secret, t.caSha256].join('.');
}

export function parseJoinToken(text: string): JoinToken {
  const parts = text.trim().split('.');
  if (parts.length !== 4 || parts[0] !== PREFIX || !parts.slice(1).every((p) => PART.test(p))) {
    throw new ValidationError('the join token is malformed: expected ffk1.<id>.<secret>.<ca> as printed by ffkeeper agents enrol', { field: 'token' });
  }
  return { id: parts[1] as string, secret: parts[2] as string, caSha256: parts[3] as string };
}

export function secretDigest(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/** Whether `secret` hashes to `digest` (constant time). */
export function secretMatches(secret: string, digest: string): boolean {
  const a = Buffer.from(secretDigest(secret), 'hex');
  const b = Buffer.from(digest, 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}

/** base64url SHA-256 of a certificate's DER (PEM given). */
export function certificateSha256(pem: string): string {
  const der = Buffer.from(pem.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, ''), 'base64');
  return createHash('sha256').update(der).digest('base64url');
}
