/**
 * Certificate revocation in the fleet CA directory (issue 16), with Node's own modules only: every
 * certificate the CA issues is recorded in `<caDir>/issued.jsonl` (serial, identity); revoking an identity
 * lists all its serials in `<caDir>/revoked.json`, and every TLS check of a peer consults that list
 * (`RevocationList`, re-read when the file changes). A certificate issued after the revocation (a
 * re-enrolment) is not on it.
 */
import { appendFileSync, chmodSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { identityUri, type PeerIdentity } from './identity.js';

const issuedPath = (caDir: string): string => path.join(caDir, 'issued.jsonl');
const revokedPath = (caDir: string): string => path.join(caDir, 'revoked.json');

interface RevokedFile {
  serials: Record<string, { identity: string; revokedAt: string }>;
}

/** A serial as both @peculiar/x509 (lower case, leading zeros) and Node's TLS (upper case) write it. */
export function normalSerial(serial: string): string {
  return serial.replace(/^0+/, '').toUpperCase();
}

/** Records an issued certificate (called by every issuance of shared/security/pki.ts). */
export function recordIssued(caDir: string, serial: string, identity: PeerIdentity, notAfter: Date): void {
  appendFileSync(issuedPath(caDir), `${JSON.stringify({ serial: normalSerial(serial), identity: identityUri(identity), notAfter: notAfter.toISOString() })}\n`, { mode: 0o600 });
}

function readRevoked(caDir: string): RevokedFile {
  const file = revokedPath(caDir);
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as RevokedFile) : { serials: {} };
}

/** Revokes every certificate issued so far to `identity`; returns how many (including ones revoked before). */
export function revokeCertificates(caDir: string, identity: PeerIdentity, now = new Date()): number {
  const uri = identityUri(identity);
  const issued = existsSync(issuedPath(caDir))
    ? readFileSync(issuedPath(caDir), 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { serial: string; identity: string })
        .filter((e) => e.identity === uri)
    : [];
  const file = readRevoked(caDir);
  for (const e of issued) file.serials[e.serial] ??= { identity: uri, revokedAt: now.toISOString() };
  mkdirSync(caDir, { recursive: true });
  const tmp = `${revokedPath(caDir)}.tmp-${process.pid}`;
  writeFileSync(tmp, JSON.stringify(file, null, 2), { mode: 0o644 });
  chmodSync(tmp, 0o644);
  renameSync(tmp, revokedPath(caDir));
  return issued.length;
}

/** The revoked serials of a CA directory, re-read when the file changes (checked at most every `refreshMs`). */
export class RevocationList {
  private serials = new Set<string>();
  private stamp = '';
  private checkedAt = 0;

  constructor(
    private readonly caDir: string,
    private readonly refreshMs = 1000,
  ) {}

  isRevoked(serial: string | undefined): boolean {
    if (serial === undefined) return false;
    this.refresh();
    return this.serials.has(normalSerial(serial));
  }

  /** Re-reads now (after this process revoked something). */
  reload(): void {
    this.checkedAt = 0;
    this.refresh();
  }

  private refresh(): void {
    const now = Date.now();
    if (now - this.checkedAt < this.refreshMs) return;
    this.checkedAt = now;
    try {
      const s = statSync(revokedPath(this.caDir));
      const stamp = `${s.mtimeMs}:${s.size}`;
      if (stamp === this.stamp) return;
      this.serials = new Set(Object.keys(readRevoked(this.caDir).serials));
      this.stamp = stamp;
    } catch {
      // no revocations yet, or the file being replaced: the last list read stays in force
    }
  }
}
