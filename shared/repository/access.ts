/**
 * How one party opens a site's repository for one job: where it is, the password that opens it, the
 * backend's own credentials and, for a TLS backend signed by a private CA, that CA's certificate. The
 * controller hands agents their access per job over the authenticated channel; nothing here is logged.
 */
import type { SshAccess } from './restic-ssh.js';

export interface RepositoryAccess {
  /** restic location; credentials embedded in it (`rest:https://user:pass@host/…`) are secrets. */
  url: string;
  password: string;
  /** Backend environment (e.g. AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY for s3:). */
  env: Record<string, string>;
  /** PEM of the CA that signed the backend's TLS certificate, when it is not a system-trusted one (not a secret). */
  caCert?: string;
  /** Login of an `sftp:` repository by password (restic-ssh.ts): the password is a secret. */
  ssh?: SshAccess;
}
