/**
 * An SFTP repository server as a site's storage off the host would be: Debian's OpenSSH sshd on a loopback
 * port with a host key of its own, a repository user of its own (no shell: `nologin`, and
 * `ForceCommand internal-sftp`), key authentication (the default access) and password login. The user is
 * made per server and removed at stop.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { execa, type ResultPromise } from 'execa';
import type { RepositoryAccess } from '../../shared/repository/access.js';
import { freePort } from '../../shared/net.js';
import { tempDir, waitFor } from './processes.js';
import type { TestRepositoryServer } from './rest-server.js';

export interface SftpServer extends TestRepositoryServer {
  user: string;
  password: string;
  /** The repository user's OpenSSH private key (its public key is the user's only authorized key). */
  privateKey: string;
  privateKeyFile: string;
  /** Access by password instead of the key (agentAccess and controllerAccess log in with the key). */
  passwordAccess(site: string): RepositoryAccess;
  port: number;
  knownHostsFile: string;
  knownHosts: string;
}

export const SFTP_REPOSITORY_PASSWORD = 'sftp repositories of this test';

export async function startSftpServer(): Promise<SftpServer> {
  const tmp = tempDir('ffk-sftp-');
  chmodSync(tmp.dir, 0o755); // the repository user walks into its directory below
  const user = `ffkrepo${randomBytes(3).toString('hex')}`;
  const password = randomBytes(12).toString('base64url');
  const dir = path.join(tmp.dir, 'repos');
  await execa('useradd', ['--system', '--no-create-home', '--home-dir', dir, '--shell', '/usr/sbin/nologin', user]);
  const removeUser = async (): Promise<void> => {
    await execa('userdel', [user], { reject: false });
  };
  let sshd: ResultPromise | undefined;
  try {
    await execa('chpasswd', [], { input: `${user}:${password}\n` });
    mkdirSync(dir);
    const { stdout: uid } = await execa('id', ['-u', user]);
    const { stdout: gid } = await execa('id', ['-g', user]);
    chownSync(dir, Number(uid), Number(gid));
    mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
    const hostKey = path.join(tmp.dir, 'host_ed25519');
    await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', hostKey]);
    const privateKeyFile = path.join(tmp.dir, 'client_ed25519');
    await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `${user}@ffkeeper-test`, '-f', privateKeyFile]);
    const authorizedKeys = path.join(tmp.dir, 'authorized_keys');
    writeFileSync(authorizedKeys, readFileSync(`${privateKeyFile}.pub`, 'utf8'), { mode: 0o644 });
    const privateKey = readFileSync(privateKeyFile, 'utf8');
    const port = await freePort();
    const config = path.join(tmp.dir, 'sshd_config');
    writeFileSync(
      config,
      [
        `Port ${port}`,
        'ListenAddress 127.0.0.1',
        `HostKey ${hostKey}`,
        `PidFile ${path.join(tmp.dir, 'sshd.pid')}`,
        'UsePAM no',
        'PasswordAuthentication yes',
        'KbdInteractiveAuthentication no',
        'PubkeyAuthentication yes',
        `AuthorizedKeysFile ${authorizedKeys}`,
        'PermitRootLogin no',
        `AllowUsers ${user}`,
        'StrictModes no',
        'Subsystem sftp internal-sftp',
        'ForceCommand internal-sftp',
        'AllowTcpForwarding no',
        'X11Forwarding no',
        '',
      ].join('\n'),
    );
    sshd = execa('/usr/sbin/sshd', ['-D', '-e', '-f', config], { reject: false, stdin: 'ignore', stdout: 'ignore', stderr: 'pipe', buffer: { stderr: true } });
    const knownHosts = `[127.0.0.1]:${port} ${readFileSync(`${hostKey}.pub`, 'utf8').trim().split(' ').slice(0, 2).join(' ')}\n`;
    const knownHostsFile = path.join(tmp.dir, 'known_hosts');
    writeFileSync(knownHostsFile, knownHosts);
    const started = sshd;
    await waitFor(async () => {
      if (started.exitCode !== null && started.exitCode !== undefined) throw new Error(`sshd exited: ${String((await started).stderr)}`);
      const r = await execa('ssh-keyscan', ['-p', String(port), '-T', '2', '127.0.0.1'], { reject: false });
      return r.stdout.includes('ssh-ed25519') ? true : undefined;
    }, 20_000, 200);
    const url = (site: string): string => `sftp://${user}@127.0.0.1:${port}/${dir}/${site}`;
    const access = (site: string): RepositoryAccess => ({ url: url(site), password: SFTP_REPOSITORY_PASSWORD, env: {}, ssh: { privateKey, knownHosts } });
    return {
      user,
      password,
      privateKey,
      privateKeyFile,
      passwordAccess: (site) => ({ url: url(site), password: SFTP_REPOSITORY_PASSWORD, env: {}, ssh: { password, knownHosts } }),
      port,
      knownHostsFile,
      knownHosts,
      dir,
      siteConfig: (site) => ({ url: url(site), password: SFTP_REPOSITORY_PASSWORD, ssh: { keyFile: privateKeyFile, knownHostsFile } }),
      agentAccess: access,
      controllerAccess: access,
      dirOf: (site) => path.join(dir, site),
      async stop() {
        sshd?.kill('SIGTERM');
        await sshd;
        await removeUser();
        tmp.cleanup();
      },
    };
  } catch (err) {
    sshd?.kill('SIGKILL');
    await removeUser();
    tmp.cleanup();
    throw err;
  }
}
