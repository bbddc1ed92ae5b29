/**
 * Turns a failed restic 0.14 run (exit code + stderr) into the typed errors of `errors.ts`, and removes
 * secrets (the repository password, URL credentials, secret-looking extra environment values) from any
 * text that could reach a message or a log line.
 */
import {
  BackupSourceMissingError,
  RepositoryAccessDeniedError,
  RepositoryAlreadyInitialisedError,
  RepositoryCommandError,
  RepositoryDataDamagedError,
  RepositoryLockedError,
  RepositoryNotInitialisedError,
  RepositoryUnavailableError,
  RepositoryWrongPasswordError,
  SnapshotNotFoundError,
  SnapshotPathNotFoundError,
} from './errors.js';
import type { FfkError } from '../errors.js';
import { stripAnsi } from './restic-validate.js';

/** What the classifier needs to know about the run that failed. */
export interface FailureContext {
  /** Display URL (credentials masked). */
  url: string;
  /** Raw URL, replaced by `url` wherever it appears. */
  rawUrl: string;
  operation: string;
  secrets: readonly string[];
  exitCode: number | undefined;
  stderr: string;
  snapshotId?: string;
  path?: string;
  paths?: string[];
}

/** Replaces the raw URL by its display form and every secret by `***`. */
export function redact(text: string, rawUrl: string, displayUrl: string, secrets: readonly string[]): string {
  let out = rawUrl && rawUrl !== displayUrl ? text.split(rawUrl).join(displayUrl) : text;
  const ordered = [...secrets].filter((s) => s.length > 0).sort((a, b) => b.length - a.length);
  for (const secret of ordered) out = out.split(secret).join('***');
  return out;
}

const UNREACHABLE = [
  /connection refused/i,
  /no such host/i,
  /i\/o timeout/i,
  /network is unreachable/i,
  /no route to host/i,
  /connection reset/i,
  /context deadline exceeded/i,
  /TLS handshake/i,
  /ssh command exited/i,
  /unable to start the sftp session/i,
  /ssh: /i,
  /server misbehaving/i,
  /x509: /,
  /dial tcp/i,
];

/** The storage refused the credentials or the operation (REST/S3 status, sftp/local file permissions). */
const DENIED = [
  /unexpected HTTP response \((?:401|403)\)/,
  /server response: 40[13]\b/,
  /\b(?:401 Unauthorized|403 Forbidden)\b/,
  /\b(?:AccessDenied|InvalidAccessKeyId|SignatureDoesNotMatch)\b/,
  // S3 servers' messages for those codes, as minio-go passes them on.
  /\b(?:The AWS Access Key Id you provided does not exist in our records|Access Denied|The request signature we calculated does not match)/,
  /Fatal:.*permission denied/i,
  /returned error, retrying after .*permission denied/i,
  /SSH_FX_PERMISSION_DENIED/,
  /^subprocess \S+: .*Permission denied/i,
];

/**
 * The storage's words when `line` (one of restic's stderr lines) says it refused the credentials or the
 * operation — restic's retry prefix and `Fatal:` removed — else undefined. Used by the failure
 * classification and by `tryRemove`, which stops restic at the first refusal instead of its retries.
 */
export function refusalIn(line: string): string | undefined {
  const l = line.trim();
  if (!DENIED.some((re) => re.test(l))) return undefined;
  return l.replace(/^Fatal:\s*/, '').replace(/^.*returned error, retrying after [^:]*:\s*/, '');
}

const NOT_INITIALISED = [
  /unable to open config file:.*(no such file|does not exist|not exist|404|NoSuchKey|key does not exist)/i,
  /Is there a repository at the following location\?/i,
];

/** restic's words for stored data that fails its MAC or its hash (restic 0.14). */
const DAMAGED = [/ciphertext verification failed/i, /Pack ID does not match/i, /hash does not match id/i, /invalid data returned/i];

/** The error lines of restic's output, without its hints and progress noise. */
function errorLines(stderr: string): string[] {
  return stderr
    .split('\n')
    .map((l) => stripAnsi(l).trim().replace(/^subprocess \S*\/ffk-ssh-(?:key-)?[0-9a-f]+:/, 'subprocess ssh:')) // restic-ssh.ts's wrappers
    .filter((l) => l.length > 0 && !l.startsWith('Is there a repository') && !l.startsWith('the `unlock` command'));
}

/** The last few meaningful lines of stderr, at most `max` characters, secrets removed. */
export function stderrTail(ctx: FailureContext, maxLines = 8, max = 1500): string {
  const lines = errorLines(redact(ctx.stderr, ctx.rawUrl, ctx.url, ctx.secrets)).slice(-maxLines);
  const joined = lines.join(' | ');
  return joined.length > max ? `…${joined.slice(-max)}` : joined;
}

function fatalDetail(ctx: FailureContext): string {
  const lines = errorLines(redact(ctx.stderr, ctx.rawUrl, ctx.url, ctx.secrets));
  const fatal = lines.find((l) => l.startsWith('Fatal:')) ?? lines[lines.length - 1] ?? 'no detail';
  return fatal.replace(/^Fatal:\s*/, '');
}

function lockHolder(stderr: string): string | undefined {
  const match = /already locked (?:exclusively )?by (.+)/.exec(stderr);
  if (!match?.[1]) return undefined;
  const created = /lock was created at ([^\n]+)/.exec(stderr);
  return created?.[1] ? `${match[1].trim()}, created at ${created[1].trim()}` : match[1].trim();
}

function notFoundError(ctx: FailureContext, stderr: string): FfkError | undefined {
  const base = { url: ctx.url };
  const missingId = /no matching ID found for prefix "([^"]*)"/.exec(stderr);
  if (missingId) return new SnapshotNotFoundError({ ...base, snapshotId: ctx.snapshotId ?? missingId[1] ?? '' });
  const missingPath = /path "([\s\S]*)" not found in snapshot/.exec(stderr);
  if (missingPath) {
    return new SnapshotPathNotFoundError({
      ...base,
      snapshotId: ctx.snapshotId ?? '',
      path: ctx.path ?? missingPath[1] ?? '',
    });
  }
  if (/all target directories\/files do not exist/.test(stderr)) {
    return new BackupSourceMissingError({ ...base, paths: ctx.paths ?? [] });
  }
  return undefined;
}

/** Maps a failed run to the most specific typed error. */
export function classifyFailure(ctx: FailureContext): FfkError {
  const stderr = redact(ctx.stderr, ctx.rawUrl, ctx.url, ctx.secrets);
  const base = { url: ctx.url };
  if (/repository is already locked/.test(stderr)) {
    const holder = lockHolder(stderr);
    return new RepositoryLockedError({ ...base, operation: ctx.operation, ...(holder ? { holder } : {}) });
  }
  if (/wrong password or no key found/.test(stderr)) return new RepositoryWrongPasswordError(base);
  if (/config file already exists/.test(stderr)) return new RepositoryAlreadyInitialisedError(base);
  const notFound = notFoundError(ctx, stderr);
  if (notFound) return notFound;
  const deniedLines = errorLines(stderr).filter((l) => refusalIn(l) !== undefined);
  const denied = deniedLines.find((l) => l.startsWith('Fatal:')) ?? deniedLines[0];
  if (denied) return new RepositoryAccessDeniedError({ ...base, operation: ctx.operation, detail: refusalIn(denied) as string });
  if (UNREACHABLE.some((re) => re.test(stderr))) {
    // ssh says why it gave up (a host key that is not the pinned one…) in its last line, before restic's Fatal.
    const ssh = errorLines(stderr).filter((l) => l.startsWith('subprocess ssh:')).at(-1);
    const fatal = fatalDetail(ctx);
    return new RepositoryUnavailableError({ ...base, detail: ssh && !fatal.includes(ssh) ? `${fatal} (${ssh})` : fatal });
  }
  if (NOT_INITIALISED.some((re) => re.test(stderr))) return new RepositoryNotInitialisedError(base);
  const damagedLines = errorLines(stderr).filter((l) => DAMAGED.some((re) => re.test(l)));
  const damaged = damagedLines.find((l) => l.startsWith('Fatal:')) ?? damagedLines[0];
  if (damaged) return new RepositoryDataDamagedError({ ...base, operation: ctx.operation, detail: damaged.replace(/^Fatal:\s*/, '') });
  return new RepositoryCommandError({
    ...base,
    operation: ctx.operation,
    ...(ctx.exitCode === undefined ? {} : { exitCode: ctx.exitCode }),
    stderrTail: stderrTail(ctx),
  });
}
