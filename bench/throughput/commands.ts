/**
 * The peers ffkeeper is measured against, run as an operator would type them: `restic` alone (its own
 * fresh repository, format v2 like ffkeeper's, its own cache directory), `tar czf`/`tar xzf` (FindFace's
 * documented method for upload directories), `pg_dump > file`, `psql -f file`. Every command runs to
 * completion or throws an InternalError naming it with the tail of its stderr.
 */
import { execa } from 'execa';
import { spawn } from 'node:child_process';
import { open } from 'node:fs/promises';
import path from 'node:path';
import { InternalError } from '../../shared/errors.js';
import type { RepositoryAccess } from '../../shared/repository/access.js';

/** Runs `command args`; resolves with stdout, throws naming the command on a non-zero exit. */
export async function run(command: string, args: readonly string[], options: { env?: Record<string, string>; cwd?: string } = {}): Promise<string> {
  const r = await execa(command, args, { env: options.env ?? {}, ...(options.cwd ? { cwd: options.cwd } : {}), reject: false, stdin: 'ignore', maxBuffer: 64 * 1024 * 1024 });
  if (r.exitCode !== 0) throw new InternalError(`${command} ${args.join(' ')} failed (${r.exitCode ?? r.signal ?? 'no exit code'}): ${tail(String(r.stderr))}`);
  return String(r.stdout);
}

function tail(text: string): string {
  return text.trim().split('\n').slice(-5).join(' | ') || '(no output)';
}

/** The bench's repository password (repositories live and die inside the bench's work directory). */
export const BENCH_PASSWORD = 'ffk-bench-password';

/**
 * Where a bench's repositories live: local directories (the default), or a storage server such as the
 * REST one of test/harness/rest-server.ts (the `backends` case). `dir` is each repository's files on this
 * machine (removed between rounds).
 */
export interface RepoPlace {
  label: string;
  url(name: string): string;
  dir(name: string): string;
  /** What the agent's repository access adds for it: a TLS server's CA, an SFTP login, S3 keys. */
  access?: Partial<Pick<RepositoryAccess, 'caCert' | 'ssh' | 'env'>>;
  /** restic flags and environment restic alone needs for it (`--cacert FILE`; `-o sftp.command=…` and askpass). */
  cli?: { args: string[]; env: Record<string, string> };
}

export function localPlace(reposDir: string): RepoPlace {
  return { label: 'local directory', url: (name) => path.join(reposDir, name), dir: (name) => path.join(reposDir, name) };
}

/** A restic repository driven by the plain restic CLI. */
export class ResticCli {
  constructor(
    /** The location restic opens (a local path or a backend URL). */
    readonly url: string,
    private readonly cacheDir: string,
    /** The repository's files on this machine (default: `url`, a local path). */
    readonly dir: string = url,
    private readonly extra: { args: string[]; env: Record<string, string> } = { args: [], env: {} },
  ) {}

  private get env(): Record<string, string> {
    return { ...this.extra.env, RESTIC_REPOSITORY: this.url, RESTIC_PASSWORD: BENCH_PASSWORD };
  }

  private args(args: string[]): string[] {
    return ['--cache-dir', this.cacheDir, ...this.extra.args, ...args];
  }

  /** A new, initialised repository `name` at `place` (a directory: `<dir>/<name>`). */
  static async fresh(place: RepoPlace | string, cacheDir: string, name: string): Promise<ResticCli> {
    const p = typeof place === 'string' ? localPlace(place) : place;
    const cli = new ResticCli(p.url(name), cacheDir, p.dir(name), p.cli);
    await cli.init();
    return cli;
  }

  /** `restic init --repository-version 2` (compression, as ffkeeper creates repositories). */
  async init(): Promise<void> {
    await run('restic', this.args(['init', '--repository-version', '2']), { env: this.env });
  }

  /** `restic cat config`: what every restic run pays to open the repository (mostly deriving the key). */
  async catConfig(): Promise<void> {
    await run('restic', this.args(['cat', 'config']), { env: this.env });
  }

  /** `restic ARGS…` as typed; resolves with its stdout. */
  plain(args: string[]): Promise<string> {
    return run('restic', this.args(args), { env: this.env });
  }

  /** `restic ARGS… --json`, parsed. */
  async json(args: string[]): Promise<unknown> {
    return JSON.parse(await this.plain([...args, '--json'])) as unknown;
  }

  /** `restic backup PATHS [--exclude X]… [--tag T]…`. */
  async backup(paths: string[], excludes: string[] = [], tags: string[] = []): Promise<void> {
    const flags = [...excludes.flatMap((x) => ['--exclude', x]), ...tags.flatMap((t) => ['--tag', t])];
    await run('restic', this.args(['backup', ...paths, ...flags]), { env: this.env });
  }

  /** `restic backup --stdin --stdin-filename NAME` fed from `command args`' stdout (a shell pipe). */
  async backupFrom(command: string, args: string[], filename: string, env: Record<string, string> = {}): Promise<void> {
    const producer = execa(command, args, { env, reject: false, stdin: 'ignore', stderr: 'pipe', buffer: { stdout: false } });
    const consumer = execa('restic', this.args(['backup', '--stdin', '--stdin-filename', filename]), { env: this.env, reject: false, stdin: 'pipe' });
    if (!producer.stdout || !consumer.stdin) throw new InternalError(`${command} | restic backup: no pipe`);
    producer.stdout.pipe(consumer.stdin);
    const [p, c] = await Promise.all([producer, consumer]);
    if (p.exitCode !== 0) throw new InternalError(`${command} ${args.join(' ')} failed (${p.exitCode ?? p.signal ?? 'no exit code'}): ${tail(String(p.stderr))}`);
    if (c.exitCode !== 0) throw new InternalError(`restic backup --stdin failed (${c.exitCode ?? c.signal ?? 'no exit code'}): ${tail(String(c.stderr))}`);
  }

  /** `restic restore latest --target DIR [--tag T]` (the newest snapshot, or the newest with that tag). */
  async restore(target: string, tag?: string): Promise<void> {
    await run('restic', this.args(['restore', 'latest', '--target', target, ...(tag ? ['--tag', tag] : [])]), { env: this.env });
  }

  /** `restic dump latest FILE | command args` (a shell pipe). */
  async dumpInto(file: string, command: string, args: string[], env: Record<string, string> = {}): Promise<void> {
    const producer = execa('restic', this.args(['dump', 'latest', file]), { env: this.env, reject: false, stdin: 'ignore', buffer: { stdout: false } });
    const consumer = execa(command, args, { env, reject: false, stdin: 'pipe' });
    if (!producer.stdout || !consumer.stdin) throw new InternalError(`restic dump | ${command}: no pipe`);
    producer.stdout.pipe(consumer.stdin);
    const [p, c] = await Promise.all([producer, consumer]);
    if (p.exitCode !== 0) throw new InternalError(`restic dump latest ${file} failed (${p.exitCode ?? p.signal ?? 'no exit code'}): ${tail(String(p.stderr))}`);
    if (c.exitCode !== 0) throw new InternalError(`${command} ${args.join(' ')} failed (${c.exitCode ?? c.signal ?? 'no exit code'}): ${tail(String(c.stderr))}`);
  }
}

/** `tar czf FILE -C DIR NAME [--exclude X]…` (FindFace: `tar -cvzf`, listing left out). */
export async function tarCreate(file: string, dir: string, name: string, excludes: string[] = []): Promise<void> {
  await run('tar', ['czf', file, ...excludes.map((x) => `--exclude=${x}`), '-C', dir, name]);
}

/** `tar xzf FILE -C DIR`. */
export async function tarExtract(file: string, dir: string): Promise<void> {
  await run('tar', ['xzf', file, '-C', dir]);
}

/** `command args > file`: the file is the child's stdout itself, as a shell redirection makes it (no copy through node). */
export async function runToFile(command: string, args: string[], file: string, env: Record<string, string> = {}): Promise<void> {
  const fd = await open(file, 'w');
  try {
    const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', fd.fd, 'pipe'] });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    const code = await new Promise<number | string | null>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (c, signal) => resolve(c ?? signal));
    });
    if (code !== 0) throw new InternalError(`${command} ${args.join(' ')} > ${file} failed (${code ?? 'no exit code'}): ${tail(stderr)}`);
  } finally {
    await fd.close();
  }
}
