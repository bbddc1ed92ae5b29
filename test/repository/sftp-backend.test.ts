/**
 * Issue 20, the SFTP backend: Debian's sshd with a repository user of its own (no shell), key authentication
 * (the key in the environment, then in an ssh-agent of each session only) and password login (through ssh's
 * askpass, the password in the environment only), the server's host key pinned. What restic does through it,
 * what a wrong key, a wrong password or a wrong host key gets, and qualification (SFTP has no append-only
 * mode: the agents' credentials can delete, and qualification says so).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { qualifyRepository } from '../../controller/domain/repository/qualify.js';
import { RepositoryAccessDeniedError, RepositoryUnavailableError } from '../../shared/repository/errors.js';
import { resticFromAccess, type ResticRepository } from '../../shared/repository/restic.js';
import { watchCommandLines } from '../harness/ps-watch.js';
import { startSftpServer, type SftpServer } from '../harness/sftp-server.js';
import { TempDirs, hashStream, pseudoRandomStream } from './helpers.js';

const SITE = 'sftp-1';

describe('an SFTP repository (key or password login, host key pinned)', () => {
  let server: SftpServer;
  const temp = new TempDirs();
  let cache: string;
  let repo: ResticRepository;

  beforeAll(async () => {
    server = await startSftpServer();
    cache = await temp.make('ffk-sftp-cache-');
    repo = resticFromAccess(server.agentAccess(SITE), { cacheDir: cache });
  }, 60_000);

  afterAll(async () => {
    await server?.stop();
    await temp.cleanup();
  });

  it('init, back up, list, read back, check --read-data, forget + prune with the key; the key on no command line and in no file', async () => {
    const ps = watchCommandLines(50);
    let lines: string[] = [];
    try {
      await repo.init();
      const s = await repo.backupStream({ stream: pseudoRandomStream('sftp-a', 3 << 20), filename: 'a.bin', tags: [`ffk-site=${SITE}`] });
      expect((await repo.listSnapshots()).map((x) => x.id)).toEqual([s.snapshotId]);
      expect(await hashStream(repo.dump({ snapshotId: s.snapshotId, path: '/a.bin' }))).toEqual(await hashStream(pseudoRandomStream('sftp-a', 3 << 20)));
      expect(await repo.check({ readData: true })).toEqual({ ok: true, problems: [] });
      expect(await repo.forget({ snapshotIds: [s.snapshotId], prune: true })).toEqual({ removed: [s.snapshotId], notFound: [], pruned: true });
      expect(readdirSync(server.dirOf(SITE) + '/data', { recursive: true, withFileTypes: true }).filter((d) => d.isFile())).toEqual([]);
    } finally {
      lines = await ps.stop();
    }
    const ssh = lines.filter((l) => l.startsWith('ssh '));
    console.log(`[sftp] ssh as restic ran it: ${ssh[0] ?? '(not seen)'}`);
    expect(ssh.length).toBeGreaterThan(0);
    const keyLines = server.privateKey.split('\n').filter((l) => l.length >= 16 && !l.startsWith('-----'));
    expect(lines.filter((l) => keyLines.some((k) => l.includes(k)))).toEqual([]);
    const written = execa('grep', ['-rlF', keyLines[0] as string, cache], { reject: false });
    expect((await written).stdout, 'the key is in no file of the cache directory').toBe('');
  }, 120_000);

  it('the password login works too; the password on no command line', async () => {
    const ps = watchCommandLines(50);
    let lines: string[] = [];
    try {
      const byPassword = resticFromAccess(server.passwordAccess(SITE), { cacheDir: cache });
      expect((await byPassword.describe()).id).toBe((await repo.describe()).id);
    } finally {
      lines = await ps.stop();
    }
    expect(lines.filter((l) => l.startsWith('ssh ')).length).toBeGreaterThan(0);
    expect(lines.filter((l) => l.includes(server.password))).toEqual([]);
  }, 60_000);

  it('a wrong key or password is refused naming it; a server whose host key is not the pinned one is not talked to', async () => {
    const other = `${cache}/other_key`;
    await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', other]);
    const keyAccess = server.agentAccess(SITE);
    const wrongKey = resticFromAccess({ ...keyAccess, ssh: { knownHosts: keyAccess.ssh!.knownHosts, privateKey: readFileSync(other, 'utf8') } }, { cacheDir: cache });
    const keyDenied = await wrongKey.describe().catch((e: unknown) => e);
    expect(keyDenied).toBeInstanceOf(RepositoryAccessDeniedError);
    expect((keyDenied as Error).message).toMatch(/was refused by the storage: .*Permission denied \(publickey/);
    const notAKey = resticFromAccess({ ...keyAccess, ssh: { knownHosts: keyAccess.ssh!.knownHosts, privateKey: '-----BEGIN OPENSSH PRIVATE KEY-----\nnot a key\n-----END OPENSSH PRIVATE KEY-----\n' } }, { cacheDir: cache });
    expect(String(await notAKey.describe().catch((e: unknown) => e))).toContain('ssh-add refused the SFTP private key');

    const access = server.passwordAccess(SITE);
    const wrong = resticFromAccess({ ...access, ssh: { ...access.ssh!, password: 'not-the-password' } }, { cacheDir: cache });
    const denied = await wrong.describe().catch((e: unknown) => e);
    expect(denied).toBeInstanceOf(RepositoryAccessDeniedError);
    expect((denied as Error).message).toMatch(/was refused by the storage: .*Permission denied/);
    expect((denied as Error).message).not.toContain('not-the-password');

    const otherKey = access.ssh!.knownHosts.replace(/ssh-ed25519 \S+/, 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl');
    const spoofed = resticFromAccess({ ...access, ssh: { ...access.ssh!, knownHosts: otherKey } }, { cacheDir: cache });
    const refused = await spoofed.describe().catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(RepositoryUnavailableError);
    expect((refused as Error).message).toMatch(/Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED/);
    console.log(`[sftp] wrong key: ${(keyDenied as Error).message}\n[sftp] wrong password: ${(denied as Error).message}\n[sftp] other host key: ${(refused as Error).message}`);
  }, 120_000);

  it('qualification against a share the login may read but not write fails at the write, naming the refusal', async () => {
    const site = 'sftp-ro';
    const ro = resticFromAccess(server.agentAccess(site), { cacheDir: cache });
    await ro.init();
    await execa('chmod', ['-R', 'a-w', server.dirOf(site)]); // what a read-only share is to the login
    try {
      const q = await qualifyRepository(site, { agent: ro, maintenance: ro, separate: false }, { bytes: 1 << 20 });
      console.log(`[sftp] read-only share: ${q.findings.join(' | ')}`);
      // restic retries creating its lock for ~45 s before it gives up on the write.
      expect(q.steps.map((s) => `${s.step} ${s.ok}`)).toEqual(['open true', 'write false']);
      expect(q.ok).toBe(false);
      expect(q.findings[0]).toMatch(/^write through the agent credentials failed: backup on repository sftp:\S+ was refused by the storage: .*permission denied/i);
    } finally {
      await execa('chmod', ['-R', 'u+w', server.dirOf(site)]);
    }
  }, 120_000);

  it('qualification works and says the SFTP credentials can delete (SFTP has no append-only mode)', async () => {
    const q = await qualifyRepository(SITE, { agent: repo, maintenance: repo, separate: false }, { bytes: 1 << 20 });
    console.log(`[sftp] qualify: ${q.steps.map((s) => `${s.step} ${s.ok ? 'ok' : 'FAILED'} ${s.ms} ms`).join(', ')}; ${q.findings.join(' | ')}`);
    expect(q.steps.map((s) => `${s.step} ${s.ok}`)).toEqual(['open true', 'write true', 'list true', 'read true', 'delete true']);
    expect(q.appendOnly).toBe('can-delete');
    expect(q.ok).toBe(true);
    expect(q.findings.join('\n')).toContain('agents hold the credentials that delete backups');
  }, 120_000);
});
