/**
 * The CLI's side of mTLS: the operator's certificate, key and the fleet CA from one directory
 * (`--tls-dir`, env FFKEEPER_TLS_DIR, default ~/.config/ffkeeper/tls: `ca.crt`, `operator.crt`,
 * `operator.key`), or `--insecure` (a lab switch, warned on every call).
 */
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ValidationError } from '../../shared/errors.js';
import { formatIdentity } from '../../shared/security/identity.js';
import { checkTlsFiles, type TlsFiles } from '../../shared/security/tls-files.js';
import { INSECURE_WARNING } from '../../shared/security/startup.js';
import type { GrpcSecurity } from '../../shared/transport/grpc-security.js';

export const OPERATOR_FILES = { ca: 'ca.crt', cert: 'operator.crt', key: 'operator.key' } as const;

export function defaultTlsDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.FFKEEPER_TLS_DIR || path.join(os.homedir(), '.config', 'ffkeeper', 'tls');
}

export function operatorTlsFiles(dir: string): TlsFiles {
  return { ca: path.join(dir, OPERATOR_FILES.ca), cert: path.join(dir, OPERATOR_FILES.cert), key: path.join(dir, OPERATOR_FILES.key) };
}

/** The security of the CLI's calls; a missing or wrong operator certificate is a ValidationError naming the file. */
export function cliSecurity(g: { tlsDir?: string; insecure?: boolean }, warn: (line: string) => void): GrpcSecurity {
  if (g.insecure) {
    warn(`ffkeeper: WARNING: ${INSECURE_WARNING.replace('insecure: true', '--insecure')}`);
    return { insecure: true };
  }
  const dir = g.tlsDir ?? defaultTlsDir();
  const files = operatorTlsFiles(dir);
  if (!existsSync(files.cert)) {
    throw new ValidationError(`no operator certificate in ${dir} (${OPERATOR_FILES.cert}, ${OPERATOR_FILES.key}, ${OPERATOR_FILES.ca}): ask an admin for one (ffkeeper ca issue --operator NAME), set --tls-dir / FFKEEPER_TLS_DIR, or use --insecure against a lab controller`, { field: 'tls-dir' });
  }
  const identity = checkTlsFiles(files);
  if (identity.kind !== 'operator') throw new ValidationError(`${files.cert} is the certificate of ${formatIdentity(identity)}, not of an operator`, { field: 'tls-dir' });
  return { tls: files };
}
