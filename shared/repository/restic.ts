/**
 * `ResticRepository`: the `Repository` port implemented with the restic binary (written against the
 * Debian restic 0.14.0) driven through execa.
 *
 * Deliberate choices:
 * - Location and password go to restic only through its environment (RESTIC_REPOSITORY,
 *   RESTIC_PASSWORD); argv holds neither, and error text is scrubbed of both.
 * - Cache: with `cacheDir` restic keeps its index/tree cache there (it makes one sub-directory per
 *   repository id, so one cacheDir can serve several repositories); without it every call runs with
 *   `--no-cache`, leaving nothing behind on the host — correct but slower for remote repositories, so
 *   agents should configure a cacheDir.
 * - New repositories use format version 2 (compression), and backups and prunes pass
 *   `--compression auto` (or the configured mode).
 */
import os from 'node:os';
import { ValidationError } from '../errors.js';
import { silentLogger, type Logger } from '../logger.js';
import { RepositoryAlreadyInitialisedError, RepositoryNotInitialisedError, SnapshotNotFoundError } from './errors.js';
import type {
  BackupFilesRequest,
  BackupStreamHead,
  BackupStreamRequest,
  BackupSummary,
  BackupTreesRequest,
  CheckRequest,
  CheckResult,
  DumpRequest,
  EnsureInitializedResult,
  ForgetRequest,
  ForgetResult,
  OpenedBackupStream,
  OpenedTreesBackup,
  OperationOptions,
  ProgressOptions,
  Repository,
  RepositoryInfo,
  RepositoryStats,
  RemoveAttempt,
  RestoreRequest,
  RestoreSummary,
  SnapshotFilter,
  SnapshotInfo,
  StatsRequest,
  TreesSummary,
} from './repository.js';
import { backupFiles, backupStream, openStream, type BackupSettings } from './restic-backup.js';
import { checkResult, parseFoundSnapshots, parseIndexTrees, parseRepositoryInfo, parseSnapshotRoots, parseSnapshots, parseStats } from './restic-parse.js';
import { dump, restore } from './restic-restore.js';
import { backupTrees, openTrees } from './restic-view.js';
import type { RepositoryAccess } from './access.js';
import { redact, refusalIn } from './restic-errors.js';
import { contentFile, sshSettings, type SshAccess } from './restic-ssh.js';
import { buildEnv, removeStaleLocks, runRestic, settle, startRestic, type ResticContext, type RunSpec } from './restic-run.js';
import { checkSnapshotId, checkTags } from './restic-validate.js';
import { parseRepositoryUrl, type ParsedRepositoryUrl } from './url.js';

/** How to reach one repository. */
export interface ResticRepositoryOptions {
  /** Local absolute path, or `sftp:`, `s3:`, `rest:`, `rclone:`, … as restic accepts. */
  url: string;
  /** The repository password; passed to restic through its environment only. */
  password: string;
  /** restic cache directory; when absent, restic runs with `--no-cache`. */
  cacheDir?: string;
  /** Extra environment for restic (e.g. AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY for s3). */
  extraEnv?: Record<string, string>;
  /** Path of the restic binary (default `restic` from PATH). */
  resticBinary?: string;
  logger?: Logger;
  /** Compression of new data (format v2 repositories); default 'auto'. */
  compression?: 'auto' | 'max' | 'off';
  /** Progress lines per second restic emits during backups (default 2). */
  progressFps?: number;
  /** How often restore progress polls the target directory (default 1000 ms). */
  restorePollIntervalMs?: number;
  /** Where temporary file lists go (default the OS temp dir). */
  tmpDir?: string;
  /**
   * PEM of the CA that signed a TLS backend's certificate (rest:/s3: over https with a private CA). It is
   * written once, content-addressed, next to the cache (or into the temp dir) and passed as `--cacert`.
   */
  caCert?: string;
  /** Login of an `sftp:` repository by password (restic-ssh.ts): environment only, host key pinned. */
  ssh?: SshAccess;
}

/** A repository opened with a job's access (agents) or the controller's own; restic's cache under `cacheDir`. */
export function resticFromAccess(access: RepositoryAccess, o: { cacheDir?: string; logger?: Logger }): ResticRepository {
  return new ResticRepository({
    url: access.url,
    password: access.password,
    extraEnv: access.env,
    ...(access.caCert ? { caCert: access.caCert } : {}),
    ...(access.ssh ? { ssh: access.ssh } : {}),
    ...(o.cacheDir !== undefined ? { cacheDir: o.cacheDir } : {}),
    ...(o.logger ? { logger: o.logger } : {}),
  });
}

/** The file holding `pem` (written once; a CA certificate is public, so mode 0644 is right). */
function caCertFile(pem: string, dir: string): string {
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new ValidationError('caCert is not a PEM certificate', { field: 'caCert' });
  return contentFile(dir, 'ffk-ca', pem, 0o644);
}

function checkOptions(options: ResticRepositoryOptions): void {
  if (options.password.length === 0) {
    throw new ValidationError('repository password must not be empty', { field: 'password' });
  }
  for (const key of Object.keys(options.extraEnv ?? {})) {
    if (key.startsWith('RESTIC_')) {
      throw new ValidationError(`extraEnv must not set ${key}; pass url and password as options`, { field: 'extraEnv' });
    }
  }
}

/** How a repository is opened as the source of `restic copy` (the `--from-*` side of one run). */
interface CopySourceSettings {
  url: ParsedRepositoryUrl;
  password: string;
  /** Backend environment (and the sftp askpass environment). */
  env: Record<string, string>;
  /** `--cacert`, `-o sftp.command=…`: restic's options are global, so they serve both repositories. */
  caArgs: string[];
  sshArgs: string[];
  secrets: string[];
}

/** The environment variable `restic copy` reads the source password from (through `printenv`, never argv). */
const FROM_PASSWORD_ENV = 'FFK_FROM_PASSWORD';

/** In-flight `ensureInitialized` calls per raw repository URL (see there). */
const initQueue = new Map<string, Promise<void>>();

/** The restic adapter of the `Repository` port. */
export class ResticRepository implements Repository {
  readonly displayUrl: string;
  private readonly ctx: ResticContext;
  private readonly backupSettings: BackupSettings;
  private readonly pollIntervalMs: number;
  private readonly asSource: CopySourceSettings;

  constructor(options: ResticRepositoryOptions) {
    const url = parseRepositoryUrl(options.url);
    checkOptions(options);
    const ssh = options.ssh ? sshSettings(url.raw, options.ssh, options.cacheDir ?? options.tmpDir ?? os.tmpdir()) : undefined;
    const { env, secrets } = buildEnv({
      url: url.raw,
      password: options.password,
      extraEnv: { ...(options.extraEnv ?? {}), ...(ssh?.env ?? {}) },
      progressFps: options.progressFps ?? 2,
    });
    this.displayUrl = url.display;
    const caArgs = options.caCert !== undefined ? ['--cacert', caCertFile(options.caCert, options.cacheDir ?? options.tmpDir ?? os.tmpdir())] : [];
    this.ctx = {
      binary: options.resticBinary ?? 'restic',
      url,
      env,
      globalArgs: [...(options.cacheDir !== undefined ? ['--cache-dir', options.cacheDir] : ['--no-cache']), ...caArgs, ...(ssh?.args ?? [])],
      ...(options.cacheDir !== undefined ? { cacheDir: options.cacheDir } : {}),
      secrets: [...secrets, ...url.secrets, ...(ssh?.secrets ?? [])],
      logger: (options.logger ?? silentLogger()).child({ repository: url.display }),
    };
    this.backupSettings = { compression: options.compression ?? 'auto', tmpDir: options.tmpDir };
    this.pollIntervalMs = options.restorePollIntervalMs ?? 1000;
    this.asSource = {
      url,
      password: options.password,
      env: { ...(options.extraEnv ?? {}), ...(ssh?.env ?? {}) },
      caArgs,
      sshArgs: ssh?.args ?? [],
      secrets: this.ctx.secrets,
    };
  }

  private run(spec: RunSpec, options: OperationOptions = {}): ReturnType<typeof runRestic> {
    return runRestic(this.ctx, { ...spec, ...(options.signal ? { signal: options.signal } : {}) });
  }

  /** Creates a format-v2 repository. */
  async init(options: OperationOptions = {}): Promise<RepositoryInfo> {
    await this.run({ operation: 'init', args: ['init', '--repository-version', '2'] }, options);
    return this.describe(options);
  }

  /**
   * Reads the repository config: proves it is reachable, initialised and opened by the password. Without a
   * lock (`--no-lock`): reading the config needs none, and a lock is two more round trips to a remote
   * backend (and restic would retry its creation for ~45 s on a share the login may not write).
   */
  async describe(options: OperationOptions = {}): Promise<RepositoryInfo> {
    const result = await this.run({ operation: 'open', args: ['cat', 'config', '--no-lock'] }, options);
    return parseRepositoryInfo(result.stdout, this.displayUrl);
  }

  /**
   * Opens the repository, creating it first if there is none. Calls for the same URL in this process are
   * serialised: restic 0.14's `init` is not atomic, and two concurrent inits can leave a repository whose
   * config and key do not match. Across processes, let one party (the controller) create repositories.
   */
  ensureInitialized(options: OperationOptions = {}): Promise<EnsureInitializedResult> {
    const key = this.ctx.url.raw;
    const previous = initQueue.get(key) ?? Promise.resolve();
    const mine = previous.then(() => this.openOrCreate(options));
    const tail = mine.then(
      () => undefined,
      () => undefined,
    );
    initQueue.set(key, tail);
    void tail.then(() => {
      if (initQueue.get(key) === tail) initQueue.delete(key);
    });
    return mine;
  }

  private async openOrCreate(options: OperationOptions): Promise<EnsureInitializedResult> {
    try {
      return { created: false, info: await this.describe(options) };
    } catch (err) {
      if (!(err instanceof RepositoryNotInitialisedError)) throw err;
    }
    try {
      return { created: true, info: await this.init(options) };
    } catch (err) {
      if (!(err instanceof RepositoryAlreadyInitialisedError)) throw err;
      return { created: false, info: await this.describe(options) };
    }
  }

  backupFiles(request: BackupFilesRequest, options: ProgressOptions = {}): Promise<BackupSummary> {
    return backupFiles({ ctx: this.ctx, settings: this.backupSettings, request, options, resolveId: this.resolveId(options) });
  }

  backupStream(request: BackupStreamRequest, options: ProgressOptions = {}): Promise<BackupSummary> {
    return backupStream({ ctx: this.ctx, settings: this.backupSettings, request, options, resolveId: this.resolveId(options) });
  }

  /** See `OpenedBackupStream` and `openStream` (restic-backup.ts). */
  openBackupStream(head: BackupStreamHead, options: { idleMs?: number } = {}): Promise<OpenedBackupStream> {
    return openStream({ ctx: this.ctx, settings: this.backupSettings, head, resolveId: this.resolveId({}), ...(options.idleMs !== undefined ? { idleMs: options.idleMs } : {}) });
  }

  /** See `BackupTreesRequest` and restic-view.ts (private bind mounts, or the directories' own paths). */
  backupTrees(request: BackupTreesRequest, options: ProgressOptions = {}): Promise<TreesSummary> {
    return backupTrees({ ctx: this.ctx, settings: this.backupSettings, request, options, resolveId: this.resolveId(options) });
  }

  /** See `OpenedTreesBackup` and `openTrees` (restic-view.ts). */
  openTreesBackup(request: BackupTreesRequest, options: { idleMs?: number } = {}): Promise<OpenedTreesBackup> {
    return openTrees({ ctx: this.ctx, settings: this.backupSettings, request, resolveId: this.resolveId({}), ...(options.idleMs !== undefined ? { idleMs: options.idleMs } : {}) });
  }

  restore(request: RestoreRequest, options: ProgressOptions = {}): Promise<RestoreSummary> {
    return restore({ ctx: this.ctx, request, options, pollIntervalMs: this.pollIntervalMs });
  }

  dump(request: DumpRequest, options: OperationOptions = {}): ReturnType<typeof dump> {
    return dump(this.ctx, request, options);
  }

  /** Snapshots carrying all of `filter.tags` (and of `filter.host`), oldest first. */
  async listSnapshots(filter: SnapshotFilter = {}, options: OperationOptions = {}): Promise<SnapshotInfo[]> {
    const args = ['snapshots', '--json'];
    const tags = checkTags(filter.tags ?? []);
    if (tags.length > 0) args.push('--tag', tags.join(','));
    if (filter.host !== undefined) args.push('--host', filter.host);
    const result = await this.run({ operation: 'list snapshots', args }, options);
    return parseSnapshots(result.stdout, this.displayUrl);
  }

  /** Removes snapshots by id, then prunes unreferenced data when asked. Unknown ids are reported. */
  async forget(request: ForgetRequest, options: OperationOptions = {}): Promise<ForgetResult> {
    const ids = request.snapshotIds.map((id) => checkSnapshotId(id, 'snapshotIds'));
    if (ids.length === 0) throw new ValidationError('forget needs at least one snapshot id', { field: 'snapshotIds' });
    const args = ['forget', ...ids];
    if (request.prune) args.push('--prune', '--compression', this.backupSettings.compression);
    const result = await this.run({ operation: 'forget', args }, options);
    const notFound = ids.filter((id) => result.stderr.includes(`Ignoring "${id}": no matching ID`));
    const removed = ids.filter((id) => !notFound.includes(id));
    return { removed, notFound, pruned: request.prune === true && removed.length > 0 };
  }

  /**
   * `restic forget ID`, watched: at the first stderr line that is the storage's refusal (`refusalIn`),
   * restic is interrupted (SIGINT: it removes its lock; a lock left behind by an early interrupt is removed
   * as stale by `settle`).
   */
  async tryRemove(snapshotId: string, options: OperationOptions = {}): Promise<RemoveAttempt> {
    const id = checkSnapshotId(snapshotId, 'snapshotId');
    const stop = new AbortController();
    const signal = options.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal;
    const spec: RunSpec = { operation: 'forget', args: ['forget', id], signal, errorContext: { snapshotId: id } };
    const subprocess = startRestic(this.ctx, spec);
    let refusal: string | undefined;
    let pending = '';
    subprocess.stderr?.on('data', (chunk: Buffer) => {
      pending += chunk.toString('utf8');
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      const words = lines.map(refusalIn).find((w) => w !== undefined);
      if (words !== undefined && refusal === undefined) {
        refusal = redact(words, this.ctx.url.raw, this.ctx.url.display, this.ctx.secrets);
        stop.abort();
      }
    });
    const settled = await subprocess;
    if (refusal !== undefined && !options.signal?.aborted) {
      await settle(this.ctx, spec, settled).catch(() => undefined);
      return { removed: false, refusal };
    }
    const result = await settle(this.ctx, spec, settled);
    if (result.stderr.includes(`Ignoring "${id}": no matching ID`)) throw new SnapshotNotFoundError({ url: this.displayUrl, snapshotId: id });
    return { removed: true };
  }

  /** Checks the repository; `readData` also reads and verifies every pack. */
  async check(request: CheckRequest = {}, options: OperationOptions = {}): Promise<CheckResult> {
    const args = ['check', ...(request.readData ? ['--read-data'] : [])];
    const spec: RunSpec = { operation: 'check', args };
    const result = await runRestic(this.ctx, {
      ...spec,
      okExitCodes: [0, 1],
      ...(options.signal ? { signal: options.signal } : {}),
    });
    return checkResult(this.ctx, spec, result);
  }

  /**
   * The snapshots whose files use data blobs of those packs (`restic find --pack ID… --json`) or whose
   * directories are tree blobs of them. restic's `find --pack` follows data blobs only, and restic keeps
   * tree blobs in packs of their own: a pack it matched holds no trees. Otherwise the packs' trees are read
   * from the index (`restic cat index`, one run per index file) and found with `find --tree`, a snapshot's
   * root tree (no directory node names it) in the snapshot list.
   */
  async snapshotsUsingPacks(packIds: string[], options: OperationOptions = {}): Promise<string[]> {
    const ids = packIds.filter((id) => /^[0-9a-f]{64}$/.test(id));
    if (ids.length === 0) return [];
    const found = new Set(parseFoundSnapshots((await this.run({ operation: 'find packs', args: ['find', '--json', '--pack', ...ids] }, options)).stdout));
    if (ids.length === 1 && found.size > 0) return [...found];
    const trees = await this.treesInPacks(new Set(ids), options);
    if (trees.length === 0) return [...found];
    const roots = parseSnapshotRoots((await this.run({ operation: 'list snapshots', args: ['snapshots', '--json'] }, options)).stdout, this.displayUrl);
    for (const tree of trees) for (const id of roots.get(tree) ?? []) found.add(id);
    // A pack of trees can hold thousands: a bounded command line per run.
    for (let i = 0; i < trees.length; i += 1000) {
      const result = await this.run({ operation: 'find trees', args: ['find', '--json', '--tree', ...trees.slice(i, i + 1000)] }, options);
      for (const id of parseFoundSnapshots(result.stdout)) found.add(id);
    }
    return [...found];
  }

  /** Ids of the tree blobs the index places in `packs`. */
  private async treesInPacks(packs: Set<string>, options: OperationOptions): Promise<string[]> {
    const indexes = (await this.run({ operation: 'list index', args: ['list', 'index'] }, options)).stdout.split('\n').map((l) => l.trim()).filter((l) => /^[0-9a-f]{64}$/.test(l));
    // One at a time: restic 0.14 stalls on S3 when its processes list and remove locks side by side.
    const trees: string[] = [];
    for (const index of indexes) {
      trees.push(...parseIndexTrees((await this.run({ operation: 'cat index', args: ['cat', 'index', index] }, options)).stdout, this.displayUrl, packs));
    }
    return trees;
  }

  /** Sizes of the repository or of selected snapshots; see `StatsRequest`. */
  async stats(request: StatsRequest, options: OperationOptions = {}): Promise<RepositoryStats> {
    const ids = (request.snapshotIds ?? []).map((id) => checkSnapshotId(id, 'snapshotIds'));
    const args = ['stats', '--json', '--mode', request.measure === 'stored' ? 'raw-data' : 'restore-size', ...ids];
    const tags = checkTags(request.tags ?? []);
    if (tags.length > 0) args.push('--tag', tags.join(','));
    const result = await this.run({ operation: 'stats', args }, options);
    const missing = ids.find((id) => result.stderr.includes(`Ignoring "${id}": no matching ID`));
    if (missing !== undefined) throw new SnapshotNotFoundError({ url: this.displayUrl, snapshotId: missing });
    return parseStats(result.stdout, this.displayUrl);
  }

  /**
   * `restic copy --from-repo SOURCE ID…` run against this repository, then the copies found by their
   * `original` id. The source's location and password reach restic through its environment only (the
   * password through `--from-password-command printenv …`: restic 0.14 has no variable for it). restic's
   * options are global, so two repositories that each need their own ssh login cannot be copied in one run.
   */
  async copyFrom(source: Repository, snapshotIds: string[], options: OperationOptions = {}): Promise<Record<string, string>> {
    if (!(source instanceof ResticRepository)) throw new ValidationError('restic copies only from another restic repository', { field: 'source' });
    const ids = [...new Set(snapshotIds.map((id) => checkSnapshotId(id, 'snapshotIds')))];
    if (ids.length === 0) return {};
    const from = source.asSource;
    const env = { ...this.ctx.env };
    for (const [key, value] of Object.entries(from.env)) {
      if (env[key] !== undefined && env[key] !== value && key in this.asSource.env) {
        throw new ValidationError(`cannot copy from ${from.url.display} to ${this.displayUrl}: both need their own ${key}, and one restic run has one environment`, { field: 'env' });
      }
      env[key] = value;
    }
    if (from.sshArgs.length > 0 && this.asSource.sshArgs.length > 0 && from.sshArgs.join(' ') !== this.asSource.sshArgs.join(' ')) {
      throw new ValidationError(`cannot copy from ${from.url.display} to ${this.displayUrl}: both are sftp: repositories with their own login, and one restic run has one ssh command`, { field: 'ssh' });
    }
    if (/^\s|\s$/.test(from.password)) throw new ValidationError('the source repository password begins or ends with white space, which restic copy cannot read', { field: 'password' });
    env.RESTIC_FROM_REPOSITORY = from.url.raw;
    env.RESTIC_FROM_PASSWORD_COMMAND = `printenv ${FROM_PASSWORD_ENV}`;
    env[FROM_PASSWORD_ENV] = from.password;
    const ca = from.caArgs.length > 0 && from.caArgs.join(' ') !== this.asSource.caArgs.join(' ') ? from.caArgs : [];
    const ssh = this.asSource.sshArgs.length === 0 ? from.sshArgs : [];
    const ctx: ResticContext = {
      ...this.ctx,
      env,
      globalArgs: [...this.ctx.globalArgs, ...ca, ...ssh],
      secrets: [...this.ctx.secrets, ...from.secrets, from.password, ...(from.url.scheme === 'local' ? [] : [from.url.raw])],
    };
    const result = await runRestic(ctx, { operation: 'copy', args: ['copy', ...ids], ...(options.signal ? { signal: options.signal } : {}) });
    const missing = ids.find((id) => result.stderr.includes(`Ignoring "${id}": no matching ID`) || result.stderr.includes(`no matching ID found for prefix "${id}"`));
    if (missing !== undefined) throw new SnapshotNotFoundError({ url: from.url.display, snapshotId: missing });
    const copies: Record<string, string> = {};
    for (const s of await this.listSnapshots({}, options)) if (s.originalId !== undefined && ids.includes(s.originalId)) copies[s.originalId] = s.id;
    const lost = ids.find((id) => copies[id] === undefined);
    if (lost !== undefined) throw new SnapshotNotFoundError({ url: from.url.display, snapshotId: lost });
    return copies;
  }

  /** `restic unlock` (never `--remove-all`). */
  releaseStaleLocks(options: OperationOptions = {}): Promise<void> {
    return removeStaleLocks(this.ctx, options.signal);
  }

  /**
   * Full snapshot id of a short one by listing (restic 0.14's backup summary only reports the short id):
   * the fallback when restic's cache and the repository's files cannot tell it (restic-snapshot-id.ts).
   */
  private resolveId(options: OperationOptions): (shortId: string) => Promise<string> {
    return async (shortId) => {
      const result = await this.run({ operation: 'list snapshots', args: ['snapshots', '--json', shortId] }, options);
      const match = parseSnapshots(result.stdout, this.displayUrl).find((s) => s.id.startsWith(shortId));
      if (!match) throw new SnapshotNotFoundError({ url: this.displayUrl, snapshotId: shortId });
      return match.id;
    };
  }
}
