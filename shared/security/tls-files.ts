/**
 * A process's TLS files at start-up, read with Node's own X.509 support only (the CLI, the agents and the
 * controller load nothing heavier): present, the key 0600, the certificate signed by the CA, current,
 * carrying an ffkeeper identity. Issuing certificates is shared/security/pki.ts.
 */
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { NotFoundError, ValidationError } from '../errors.js';
import { identityOfSubjectAltName, type PeerIdentity } from './identity.js';

/** Validity of an issued (non-CA) certificate unless asked otherwise. */
export const DEFAULT_LEAF_DAYS = 365;

/** Where a process finds its TLS material: the fleet CA, its own certificate and key. */
export interface TlsFiles {
  ca: string;
  cert: string;
  key: string;
}

/** The NATS nkey seed issued beside a certificate (shared/security/nats-users.ts): `<dir>/<name>.key` → `<dir>/<name>.nk`. */
export function natsSeedOf(files: { key: string }): string {
  return `${files.key.replace(/\.key$/, '')}.nk`;
}

/** Reads a private key file; refuses one that group or others may read (the message names file and mode). */
export function readKeyFile(file: string): Buffer {
  if (!existsSync(file)) throw new NotFoundError(`key file ${file} does not exist`);
  const mode = statSync(file).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    throw new ValidationError(`key file ${file} has mode ${mode.toString(8).padStart(4, '0')}: group or others may read it; chmod 600 it`, { field: 'key' });
  }
  return readFileSync(file);
}

/** The identity a certificate (PEM) carries; undefined when it has no ffkeeper identity URI. */
export function identityOfCertificate(pem: string | Buffer): PeerIdentity | undefined {
  return identityOfSubjectAltName(new X509Certificate(pem).subjectAltName);
}

/**
 * Checks TLS files at start-up, so a misconfigured process fails with a message naming the file rather
 * than at its first handshake: all exist, the key is 0600, the certificate is signed by the CA, current,
 * and carries an ffkeeper identity. Returns that identity.
 */
export function checkTlsFiles(files: TlsFiles, now = new Date()): PeerIdentity {
  for (const [what, file] of Object.entries({ ca: files.ca, cert: files.cert })) {
    if (!existsSync(file)) throw new NotFoundError(`tls.${what}: ${file} does not exist`);
  }
  readKeyFile(files.key);
  const ca = new X509Certificate(readFileSync(files.ca));
  const cert = new X509Certificate(readFileSync(files.cert));
  if (!cert.verify(ca.publicKey)) throw new ValidationError(`tls.cert: ${files.cert} is not signed by the CA in ${files.ca}`, { field: 'tls.cert' });
  if (Date.parse(cert.validTo) < now.getTime()) throw new ValidationError(`tls.cert: ${files.cert} expired on ${new Date(cert.validTo).toISOString()}`, { field: 'tls.cert' });
  const identity = identityOfSubjectAltName(cert.subjectAltName);
  if (!identity) throw new ValidationError(`tls.cert: ${files.cert} carries no ffkeeper identity (subjectAltName URI ffkeeper://…)`, { field: 'tls.cert' });
  return identity;
}
