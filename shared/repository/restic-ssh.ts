/**
 * An `sftp:` repository with a password that never touches disk or a command line: restic runs ssh through
 * `-o sftp.command=…`, and ssh asks for the password through an askpass helper that prints it from its
 * environment (`SSH_ASKPASS_REQUIRE=force`, OpenSSH ≥ 8.4). The server's host key is pinned: known_hosts
 * written from the access (public, content-addressed), `StrictHostKeyChecking=yes`, no global file.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ValidationError } from '../errors.js';

/** How to log in to an SFTP repository server. */
export interface SshAccess {
  /** The repository user's password (a secret: environment only). */
  password: string;
  /** known_hosts lines of the server (`[host]:port ssh-ed25519 AAAA…`): its key is checked, never learned. */
  knownHosts: string;
}

/** The environment variable the askpass helper prints. */
export const SSH_PASSWORD_ENV = 'FFK_SSH_PASSWORD';
const ASKPASS = `#!/bin/sh\n# ffkeeper: prints the SFTP repository password ssh asks for (from the environment, never stored)\nprintf '%s\\n' "$${SSH_PASSWORD_ENV}"\n`;

/**
 * ssh, run by restic: when ssh fails (a refused password, an unreachable server), restic may exit on the
 * closed session before it has copied ssh's last words from stderr, so the wrapper keeps the session's
 * stdout open a moment longer after a failure. A session that ends well ends at once.
 */
const SSH_WRAPPER = '#!/bin/sh\n# ffkeeper: ssh for restic sftp: repositories (see shared/repository/restic-ssh.ts)\nssh "$@"\ncode=$?\n[ "$code" -eq 0 ] || sleep 0.3\nexit "$code"\n';

/** user, host and port of an `sftp:user@host:/path` or `sftp://user@host[:port]//path` location. */
export function sftpEndpoint(url: string): { user: string | undefined; host: string; port: number | undefined } {
  const long = /^sftp:\/\/(?:([^@/]+)@)?(\[[^\]]+\]|[^/:]+)(?::(\d+))?\//.exec(url);
  if (long) return { user: long[1], host: (long[2] as string).replace(/^\[|\]$/g, ''), port: long[3] ? Number(long[3]) : undefined };
  const short = /^sftp:(?:([^@/]+)@)?([^:/]+):/.exec(url);
  if (short) return { user: short[1], host: short[2] as string, port: undefined };
  throw new ValidationError(`'${url}' is not an sftp: location (sftp:user@host:/path or sftp://user@host:port//path)`, { field: 'url' });
}

/**
 * Writes `content` (public: a CA certificate, known_hosts lines, a helper script) once under `dir`, named by
 * its hash, and returns the file: every restic run with the same content shares it.
 */
export function contentFile(dir: string, prefix: string, content: string, mode: number): string {
  const file = path.join(dir, `${prefix}-${createHash('sha256').update(content).digest('hex').slice(0, 16)}`);
  if (!existsSync(file)) {
    mkdirSync(dir, { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, content, { mode });
    renameSync(tmp, file);
  }
  return file;
}

/**
 * restic's extra arguments and environment for an sftp: repository with `ssh`: the ssh command (no secret
 * in it) and the askpass environment (the password in `FFK_SSH_PASSWORD`, reported as a secret).
 */
export function sshSettings(url: string, ssh: SshAccess, dir: string): { args: string[]; env: Record<string, string>; secrets: string[] } {
  if (!url.startsWith('sftp:')) throw new ValidationError('ssh settings are for sftp: repositories only', { field: 'ssh' });
  if (ssh.password.length === 0) throw new ValidationError('the SFTP password is empty', { field: 'ssh.password' });
  if (!/^\S+ ssh-\S+ \S+/m.test(ssh.knownHosts) && !/^\S+ ecdsa-\S+ \S+/m.test(ssh.knownHosts)) {
    throw new ValidationError('ssh.knownHosts holds no known_hosts line (host key-type key)', { field: 'ssh.knownHosts' });
  }
  const { user, host, port } = sftpEndpoint(url);
  const knownHosts = contentFile(dir, 'ffk-known-hosts', ssh.knownHosts.endsWith('\n') ? ssh.knownHosts : `${ssh.knownHosts}\n`, 0o644);
  const askpass = contentFile(dir, 'ffk-askpass', ASKPASS, 0o755);
  const command = [
    contentFile(dir, 'ffk-ssh', SSH_WRAPPER, 0o755),
    '-o', `UserKnownHostsFile=${knownHosts}`,
    '-o', 'GlobalKnownHostsFile=/dev/null',
    '-o', 'StrictHostKeyChecking=yes',
    '-o', 'PreferredAuthentications=password',
    '-o', 'PubkeyAuthentication=no',
    '-o', 'NumberOfPasswordPrompts=1',
    ...(port !== undefined ? ['-p', String(port)] : []),
    user !== undefined ? `${user}@${host}` : host,
    '-s', 'sftp',
  ];
  if (command.some((part) => /\s/.test(part))) throw new ValidationError('the cache directory or the sftp location contains white space, which restic cannot pass to ssh', { field: 'url' });
  return {
    args: ['-o', `sftp.command=${command.join(' ')}`],
    env: { SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: 'force', DISPLAY: ':0', [SSH_PASSWORD_ENV]: ssh.password },
    secrets: [ssh.password],
  };
}
