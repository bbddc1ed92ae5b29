/**
 * Failure mapping against the real restic: wrong password, a lock held by another restic process,
 * unreachable and uninitialised repositories, and `check --read-data` after a pack file is corrupted.
 */
import { execa, type ResultPromise } from 'execa';
import { chmod, open, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { PassThrough } from 'node:stream';
import { pino } from 'pino';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CancelledError, ConflictError, NotFoundError, UnavailableError, ValidationError } from '../../shared/errors.js';
import { freePort } from '../../shared/net.js';
import {
  RepositoryCommandError,
  RepositoryDataDamagedError,
  RepositoryLockedError,
  RepositoryNotInitialisedError,
  RepositoryUnavailableError,
  RepositoryWrongPasswordError,
  SnapshotNotFoundError,
} from '../../shared/repository/errors.js';
import { ResticRepository } from '../../shared/repository/restic.js';
import { PASSWORD, TempDirs, newRepository, pseudoRandom, writeTree } from './helpers.js';

const temp = new TempDirs();
let repo: ResticRepository;
let repoDir: string;
let src: string;
const holders: ResultPromise[] = [];

beforeAll(async () => {
  let root: string;
  ({ repo, dir: repoDir, root } = await newRepository(temp));
  await repo.init();
  src = path.join(root, 'src');
  await writeTree(src, { 'a.bin': Buffer.alloc(3 * 1024 * 1024, 3), 'b.txt': 'bee' });
  await repo.backupFiles({ paths: [src] });
});
afterEach(async () => {
  for (const holder of holders.splice(0)) {
    holder.kill('SIGINT');
    await holder;
  }
});
afterAll(() => temp.cleanup());

/**
 * Waits until restic's lock file is in place. restic writes it as `<id>-tmp-<n>` and renames it to
 * `<id>`; a signal before the rename leaves the temporary file (which restic itself ignores).
 */
async function lockNames(dir: string): Promise<Set<string>> {
  return new Set(await readdir(path.join(dir, 'locks')));
}

/** …and a new one: a lock an earlier test's process left behind (killed before restic registered it) does not count. */
async function waitForLock(dir: string, before: Set<string>): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if ((await readdir(path.join(dir, 'locks'))).some((name) => /^[0-9a-f]{64}$/.test(name) && !before.has(name))) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no lock appeared in ${dir}`);
}

describe('ResticRepository: typed failures', () => {
  it('a wrong password is a RepositoryWrongPasswordError whose message does not contain it', async () => {
    const wrongPassword = 'not-the-password-9f3c';
    const wrong = new ResticRepository({ url: repoDir, password: wrongPassword });
    const attempt = wrong.listSnapshots();
    await expect(attempt).rejects.toThrow(RepositoryWrongPasswordError);
    await expect(attempt).rejects.toThrow(`wrong password for repository ${repoDir}`);
    const err = await attempt.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect(JSON.stringify({ m: (err as Error).message, s: (err as Error).stack })).not.toContain(wrongPassword);
    expect((err as Error).message).not.toContain(PASSWORD);
  });

  it('a lock held by another restic process is a RepositoryLockedError naming the holder', async () => {
    const before = await lockNames(repoDir);
    const holder = execa('restic', ['--no-cache', 'backup', '--stdin', '--stdin-filename', 'held.sql'], {
      env: { RESTIC_REPOSITORY: repoDir, RESTIC_PASSWORD: PASSWORD },
      stdin: 'pipe',
      reject: false,
    });
    holders.push(holder);
    await waitForLock(repoDir, before);
    const attempt = repo.check();
    await expect(attempt).rejects.toThrow(RepositoryLockedError);
    await expect(attempt).rejects.toThrow(new RegExp(`^repository ${repoDir} is locked by PID ${holder.pid} on .+; check not started$`));
    const err = (await attempt.catch((e: unknown) => e)) as RepositoryLockedError;
    expect(err).toBeInstanceOf(ConflictError);
    expect(err.holder).toContain(`PID ${holder.pid}`);
  });

  it('an unreachable repository is a RepositoryUnavailableError, with URL credentials masked', async () => {
    const port = await freePort();
    const url = `rest:http://backup:s3cr3t-in-url@127.0.0.1:${port}/site-a`;
    const down = new ResticRepository({ url, password: PASSWORD });
    expect(down.displayUrl).toBe(`rest:http://backup:***@127.0.0.1:${port}/site-a`);
    const attempt = down.listSnapshots();
    await expect(attempt).rejects.toThrow(RepositoryUnavailableError);
    await expect(attempt).rejects.toThrow(`repository ${down.displayUrl} is unreachable:`);
    const err = (await attempt.catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(UnavailableError);
    expect(err.message).toContain('connection refused');
    expect(err.message).not.toContain('s3cr3t-in-url');
  });

  it('a backup whose parent snapshot does not exist is a SnapshotNotFoundError (the uploads driver then looks the parent up)', async () => {
    const err = await repo.backupFiles({ paths: [src], parentId: 'f'.repeat(64) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SnapshotNotFoundError);
  });

  it('a location without a repository is RepositoryNotInitialisedError', async () => {
    const empty = path.join(await temp.make(), 'nothing-here');
    const none = new ResticRepository({ url: empty, password: PASSWORD });
    const attempt = none.backupFiles({ paths: [src] });
    await expect(attempt).rejects.toThrow(RepositoryNotInitialisedError);
    await expect(attempt).rejects.toThrow(`no repository initialised at ${empty}`);
    expect(await attempt.catch((e: unknown) => e)).toBeInstanceOf(NotFoundError);
  });

  it('check --read-data finds a corrupted pack file that a plain check misses', async () => {
    const { repo: own, dir, root } = await newRepository(temp);
    await own.init();
    await writeTree(path.join(root, 'random'), { 'r.bin': pseudoRandom('corrupt', 4 * 1024 * 1024) });
    await own.backupFiles({ paths: [path.join(root, 'random')] });
    expect(await own.check({ readData: true })).toEqual({ ok: true, problems: [] });
    const pack = await largestPack(path.join(dir, 'data')); // holds data blobs, not trees
    await chmod(pack, 0o600);
    const fh = await open(pack, 'r+');
    await fh.write(Buffer.from('corrupted!'), 0, 10, 1000);
    await fh.close();
    expect(await own.check()).toEqual({ ok: true, problems: [] });
    const result = await own.check({ readData: true });
    expect(result.ok).toBe(false);
    expect(result.problems.join('\n')).toContain(`Pack ID does not match, want ${path.basename(pack)}`);
    // The damaged pack is named, and traced to the snapshot whose files use it (what verify reports).
    expect(result.damagedPacks).toEqual([path.basename(pack)]);
    const [snapshot] = await own.listSnapshots();
    expect(await own.snapshotsUsingPacks([path.basename(pack)])).toEqual([snapshot?.id]);
  });

  it('traces each pack to the snapshots that use it: data packs by their files, tree packs by their directories and root', async () => {
    const { repo: own, dir, root } = await newRepository(temp);
    await own.init();
    const packs = async (): Promise<string[]> => (await readdir(path.join(dir, 'data'), { recursive: true, encoding: 'utf8' })).map((p) => path.basename(p)).filter((n) => /^[0-9a-f]{64}$/.test(n));
    await writeTree(path.join(root, 'src'), { 'a/x/one.bin': pseudoRandom('one', 300_000) });
    await own.backupFiles({ paths: [path.join(root, 'src')] });
    const first = await packs();
    await writeTree(path.join(root, 'src'), { 'b/y/two.bin': pseudoRandom('two', 300_000) });
    await own.backupFiles({ paths: [path.join(root, 'src')] });
    const second = (await packs()).filter((p) => !first.includes(p));
    const [one, two] = await own.listSnapshots();
    // Each backup wrote a data pack and a pack of trees (restic keeps them apart).
    expect(first).toHaveLength(2);
    expect(second).toHaveLength(2);
    // The second snapshot still holds a/x/one.bin and the unchanged directories a/ and a/x/ of the first.
    for (const p of first) expect((await own.snapshotsUsingPacks([p])).sort(), p).toEqual([one?.id, two?.id].sort());
    for (const p of second) expect(await own.snapshotsUsingPacks([p]), p).toEqual([two?.id]);
  });

  it('a files backup that finds an index file still being written runs again; an index that stays damaged is RepositoryDataDamagedError', async () => {
    // Another process writing an index file in place (rclone serve restic before 1.63 does): restic, loading
    // the index as the backup starts, reads a file that does not match its id. Written whole a moment later.
    const [name] = (await readdir(path.join(repoDir, 'index'))).filter((n) => /^[0-9a-f]{64}$/.test(n));
    const file = path.join(repoDir, 'index', name as string);
    const whole = await readFile(file);
    await chmod(file, 0o644);
    await writeFile(file, whole.subarray(0, Math.floor(whole.length / 2)));
    const rewritten = new Promise((r) => setTimeout(r, 300)).then(() => writeFile(file, whole));
    const started = Date.now();
    const summary = await repo.backupFiles({ paths: [src] });
    await rewritten;
    console.log(`backup with an index file half written for 300 ms: ${summary.snapshotId.slice(0, 8)} in ${Date.now() - started} ms`);
    expect(summary.complete).toBe(true);
    // Damage that stays: every run fails, and the last one's error says the data is damaged.
    await writeFile(file, whole.subarray(0, Math.floor(whole.length / 2)));
    try {
      const err = await repo.backupFiles({ paths: [src] }).then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(RepositoryDataDamagedError);
      expect((err as RepositoryDataDamagedError).detail).toMatch(/^load <index\//);
    } finally {
      await writeFile(file, whole);
    }
  });

  it('the password is in neither restic argv nor the debug log', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(line) });
    const logged = new ResticRepository({ url: repoDir, password: PASSWORD, logger });
    const source = new PassThrough();
    const controller = new AbortController();
    const before = await lockNames(repoDir);
    const running = logged.backupStream({ stream: source, filename: 'argv-probe.sql' }, { signal: controller.signal });
    // Until the backup's own process runs and holds its lock (a lock alone could still be another's).
    let cmdlines: string[] = [];
    for (let i = 0; i < 100 && !cmdlines.some((c) => c.includes('argv-probe.sql')); i++) {
      await waitForLock(repoDir, before);
      cmdlines = await resticCmdlines();
      if (!cmdlines.some((c) => c.includes('argv-probe.sql'))) await new Promise((r) => setTimeout(r, 50));
    }
    controller.abort();
    await expect(running).rejects.toThrow(CancelledError);
    expect(await readdir(path.join(repoDir, 'locks'))).toEqual([]); // aborted inside restic's 200 ms lock window
    const probe = cmdlines.find((c) => c.includes('argv-probe.sql'));
    expect(probe).toContain('--stdin-filename');
    expect(cmdlines.join('\n')).not.toContain(PASSWORD);
    await new ResticRepository({ url: repoDir, password: 'wrong-one-77', logger }).describe().catch(() => undefined);
    const log = lines.join('');
    expect(log).toContain('restic start');
    expect(log).not.toContain(PASSWORD);
    expect(log).not.toContain('wrong-one-77');
  });

  it('releaseStaleLocks removes the lock of a killed restic, which would otherwise block check', async () => {
    const before = await lockNames(repoDir);
    const killed = execa('restic', ['--no-cache', 'backup', '--stdin', '--stdin-filename', 'killed.sql'], {
      env: { RESTIC_REPOSITORY: repoDir, RESTIC_PASSWORD: PASSWORD },
      stdin: 'pipe',
      reject: false,
    });
    await waitForLock(repoDir, before);
    await new Promise((r) => setTimeout(r, 400)); // past restic's lock registration
    killed.kill('SIGKILL');
    await killed;
    await expect(repo.check()).rejects.toThrow(RepositoryLockedError);
    await repo.releaseStaleLocks();
    expect(await readdir(path.join(repoDir, 'locks'))).toEqual([]);
    expect(await repo.check()).toEqual({ ok: true, problems: [] });
  });

  it('a missing restic binary is a RepositoryCommandError naming the operation', async () => {
    const broken = new ResticRepository({ url: repoDir, password: PASSWORD, resticBinary: '/nonexistent/restic' });
    const attempt = broken.listSnapshots();
    await expect(attempt).rejects.toThrow(RepositoryCommandError);
    await expect(attempt).rejects.toThrow(`list snapshots on repository ${repoDir} failed (no exit code): `);
    await expect(attempt).rejects.toThrow('ENOENT');
  });

  it('an aborted call throws CancelledError', async () => {
    const controller = new AbortController();
    const before = await lockNames(repoDir);
    const attempt = repo.check({ readData: true }, { signal: controller.signal });
    // Aborted once restic holds its lock: a check of this small repository can finish within 300 ms.
    await waitForLock(repoDir, before);
    controller.abort();
    await expect(attempt).rejects.toThrow(CancelledError);
    await expect(attempt).rejects.toThrow(`check on repository ${repoDir} was cancelled`);
    expect(await readdir(path.join(repoDir, 'locks'))).toEqual([]);
  });
});

/** Command lines of every running restic process (NUL-separated argv joined by spaces). */
async function resticCmdlines(): Promise<string[]> {
  const out: string[] = [];
  for (const pid of (await readdir('/proc')).filter((d) => /^\d+$/.test(d))) {
    const raw = await readFile(`/proc/${pid}/cmdline`).catch(() => Buffer.alloc(0));
    const argv = raw.toString().split('\0');
    if (argv[0]?.endsWith('restic')) out.push(argv.join(' '));
  }
  return out;
}

async function largestPack(dataDir: string): Promise<string> {
  let best = { file: '', size: -1 };
  for (const sub of await readdir(dataDir)) {
    for (const name of await readdir(path.join(dataDir, sub))) {
      const file = path.join(dataDir, sub, name);
      const { size } = await stat(file);
      if (size > best.size) best = { file, size };
    }
  }
  return best.file;
}
