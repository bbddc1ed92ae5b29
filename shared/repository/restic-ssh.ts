/**
 * An `sftp:` repository whose login never touches disk or a command line: restic runs ssh through
 * `-o sftp.command=…`, and
 * - with a password, ssh asks for it through an askpass helper that prints it from its environment
 *   (`SSH_ASKPASS_REQUIRE=force`, OpenSSH ≥ 8.4);
 * - with a private key, a wrapper runs ssh under an ssh-agent of that session only (`ssh-agent sh -c …`),
 *   which `ssh-add -` fills from the environment; the agent ends with the session.
 * The server's host key is pinned: known_hosts written from the access (public, content-addressed),
 * `StrictHostKeyChecking=yes`, no global file.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ValidationError } from '../errors.js';

/** How to log in to an SFTP repository server: by password or by key (exactly one). */
export interface SshAccess {
  /** The repository user's password (a secret: environment only). */
  password?: string;
  /** The repository user's OpenSSH private key, without a passphrase (a secret: environment and an ssh-agent only). */
  privateKey?: string;
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

/** The environment variable the key wrapper hands to `ssh-add -`. */
export const SSH_KEY_ENV = 'FFK_SSH_KEY';
/** ssh under an ssh-agent of this session: the key goes from the environment into the agent, then out of the environment. */
const SSH_KEY_WRAPPER = [
  '#!/bin/sh',
  '# ffkeeper: ssh with a key for restic sftp: repositories: the key lives in an ssh-agent of this session only',
  '# (see shared/repository/restic-ssh.ts)',
  `exec ssh-agent sh -c 'printf "%s\\n" "$${SSH_KEY_ENV}" | ssh-add -q - 2>/dev/null || { echo "ffkeeper: ssh-add refused the SFTP private key (not an OpenSSH private key without a passphrase?)" >&2; sleep 0.3; exit 255; }`,
  `unset ${SSH_KEY_ENV}; ssh "$@"; code=$?; [ "$code" -eq 0 ] || sleep 0.3; exit "$code"' ffk-ssh "$@"`,
  '',
].join('\n');

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
  const byKey = ssh.privateKey !== undefined && ssh.privateKey.length > 0;
  const byPassword = ssh.password !== undefined && ssh.password.length > 0;
  if (byKey === byPassword) throw new ValidationError('an SFTP login needs exactly one of a password and a private key', { field: byKey ? 'ssh.privateKey' : 'ssh.password' });
  if (byKey && !/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(ssh.privateKey ?? '')) throw new ValidationError('ssh.privateKey is not a PEM private key', { field: 'ssh.privateKey' });
  if (!/^\S+ ssh-\S+ \S+/m.test(ssh.knownHosts) && !/^\S+ ecdsa-\S+ \S+/m.test(ssh.knownHosts)) {
    throw new ValidationError('ssh.knownHosts holds no known_hosts line (host key-type key)', { field: 'ssh.knownHosts' });
  }
  const { user, host, port } = sftpEndpoint(url);
  const knownHosts = contentFile(dir, 'ffk-known-hosts', ssh.knownHosts.endsWith('\n') ? ssh.knownHosts : `${ssh.knownHosts}\n`, 0o644);
  const auth = byKey
    ? ['-o', 'PreferredAuthentications=publickey', '-o', 'PasswordAuthentication=no', '-o', 'IdentityFile=none']
    : ['-o', 'PreferredAuthentications=password', '-o', 'PubkeyAuthentication=no', '-o', 'NumberOfPasswordPrompts=1'];
  const command = [
    byKey ? contentFile(dir, 'ffk-ssh-key', SSH_KEY_WRAPPER, 0o755) : contentFile(dir, 'ffk-ssh', SSH_WRAPPER, 0o755),
    '-o', `UserKnownHostsFile=${knownHosts}`,
    '-o', 'GlobalKnownHostsFile=/dev/null',
    '-o', 'StrictHostKeyChecking=yes',
    ...auth,
    ...(port !== undefined ? ['-p', String(port)] : []),
    user !== undefined ? `${user}@${host}` : host,
    '-s', 'sftp',
  ];
  if (command.some((part) => /\s/.test(part))) throw new ValidationError('the cache directory or the sftp location contains white space, which restic cannot pass to ssh', { field: 'url' });
  const args = ['-o', `sftp.command=${command.join(' ')}`];
  if (byKey) {
    const key = (ssh.privateKey ?? '').trim();
    return { args, env: { [SSH_KEY_ENV]: key }, secrets: [key, ...key.split('\n').filter((l) => l.length >= 16 && !l.startsWith('-----'))] };
  }
  const password = ssh.password ?? '';
  const askpass = contentFile(dir, 'ffk-askpass', ASKPASS, 0o755);
  return {
    args,
    env: { SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: 'force', DISPLAY: ':0', [SSH_PASSWORD_ENV]: password },
    secrets: [password],
  };
}
