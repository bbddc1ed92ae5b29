/**
 * The bench's repository servers (issue 20's backends case): REST — `rclone serve restic` over TLS on
 * loopback (test/harness/rest-server.ts), its append-only endpoint, where agents write — and SFTP — sshd
 * with a repository user of its own and password login (test/harness/sftp-server.ts) — and S3 — s3rver over
 * TLS (test/harness/s3-server.ts). The agent and restic alone use the same server alike.
 */
import { startRestServer } from '../../test/harness/rest-server.js';
import { startSftpServer } from '../../test/harness/sftp-server.js';
import { S3_KEYS, startS3Server } from '../../test/harness/s3-server.js';
import { sshSettings } from '../../shared/repository/restic-ssh.js';
import type { RepoPlace } from './commands.js';

export interface PlaceOnServer {
  place: RepoPlace;
  server: { stop(): Promise<void> };
}

export async function restPlace(): Promise<PlaceOnServer> {
  const server = await startRestServer();
  const place: RepoPlace = {
    label: 'REST (rclone serve restic --append-only, TLS, loopback)',
    url: (name) => server.url(name, 'agent'),
    dir: (name) => `${server.dir}/${name}`,
    access: { caCert: server.caPem },
    cli: { args: ['--cacert', server.caFile], env: {} },
  };
  return { place, server };
}

/** `sshDir`: where restic alone's ssh helpers (askpass, known_hosts) go. */
export async function sftpPlace(sshDir: string): Promise<PlaceOnServer> {
  const server = await startSftpServer();
  const ssh = { password: server.password, knownHosts: server.knownHosts };
  const url = (name: string): string => server.agentAccess(name).url;
  const cli = sshSettings(url('x'), ssh, sshDir);
  const place: RepoPlace = {
    label: 'SFTP (OpenSSH sshd, password login, loopback)',
    url,
    dir: (name) => server.dirOf(name),
    access: { ssh },
    cli: { args: cli.args, env: cli.env },
  };
  return { place, server };
}

export async function s3Place(): Promise<PlaceOnServer> {
  const server = await startS3Server();
  const place: RepoPlace = {
    label: 'S3 (s3rver over TLS, loopback)',
    url: (name) => server.url(name),
    dir: (name) => server.dirOf(name),
    access: { caCert: server.caPem, env: { ...S3_KEYS } },
    cli: { args: ['--cacert', server.caFile], env: { ...S3_KEYS } },
  };
  return { place, server };
}
