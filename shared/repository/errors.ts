/**
 * Typed failures of a backup repository. Each extends the shared class of its code (CONFLICT,
 * VALIDATION, UNAVAILABLE, NOT_FOUND, INTERNAL) so generic mappings (gRPC status, CLI exit code) work,
 * and carries the repository's display URL (credentials masked). Messages never contain secrets.
 */
import {
  ConflictError,
  IllegalStateError,
  InternalError,
  NotFoundError,
  PermissionDeniedError,
  UnavailableError,
  ValidationError,
  type FfkErrorOptions,
} from '../errors.js';

/** Common constructor input: the masked repository URL plus the usual `cause`. */
export interface RepositoryErrorOptions extends FfkErrorOptions {
  url: string;
}

/** Another process holds a lock that conflicts with this operation. */
export class RepositoryLockedError extends ConflictError {
  readonly url: string;
  /** Who holds the lock, as the engine said (e.g. "PID 7612 on vm by root"), when known. */
  readonly holder: string | undefined;

  constructor(options: RepositoryErrorOptions & { holder?: string; operation: string }) {
    const who = options.holder ? ` by ${options.holder}` : '';
    super(`repository ${options.url} is locked${who}; ${options.operation} not started`, options);
    this.url = options.url;
    this.holder = options.holder;
  }
}

/** The password does not open the repository. */
export class RepositoryWrongPasswordError extends ValidationError {
  readonly url: string;

  constructor(options: RepositoryErrorOptions) {
    super(`wrong password for repository ${options.url}`, { ...options, field: 'password' });
    this.url = options.url;
  }
}

/** The repository's storage cannot be reached (network, server down, DNS, ssh). */
export class RepositoryUnavailableError extends UnavailableError {
  readonly url: string;

  constructor(options: RepositoryErrorOptions & { detail: string }) {
    super(`repository ${options.url} is unreachable: ${options.detail}`, options);
    this.url = options.url;
  }
}

/**
 * The storage answered but refused these credentials or this operation (HTTP 401/403, permission denied):
 * wrong backend user or password, a read-only share, or append-only credentials asked to delete.
 */
export class RepositoryAccessDeniedError extends PermissionDeniedError {
  readonly url: string;

  constructor(options: RepositoryErrorOptions & { operation: string; detail: string }) {
    super(`${options.operation} on repository ${options.url} was refused by the storage: ${options.detail}`, options);
    this.url = options.url;
  }
}

/** Storage is reachable but holds no repository. */
export class RepositoryNotInitialisedError extends NotFoundError {
  readonly url: string;

  constructor(options: RepositoryErrorOptions) {
    super(`no repository initialised at ${options.url}`, options);
    this.url = options.url;
  }
}

/** `init` found a repository already there. */
export class RepositoryAlreadyInitialisedError extends ConflictError {
  readonly url: string;

  constructor(options: RepositoryErrorOptions) {
    super(`a repository is already initialised at ${options.url}`, options);
    this.url = options.url;
  }
}

/** No snapshot with that id (or id prefix). */
export class SnapshotNotFoundError extends NotFoundError {
  readonly url: string;
  readonly snapshotId: string;

  constructor(options: RepositoryErrorOptions & { snapshotId: string }) {
    super(`snapshot '${options.snapshotId}' not found in repository ${options.url}`, options);
    this.url = options.url;
    this.snapshotId = options.snapshotId;
  }
}

/** The snapshot exists but holds nothing at that path. */
export class SnapshotPathNotFoundError extends NotFoundError {
  readonly url: string;
  readonly snapshotId: string;
  readonly path: string;

  constructor(options: RepositoryErrorOptions & { snapshotId: string; path: string }) {
    super(`path '${options.path}' not found in snapshot '${options.snapshotId}' of repository ${options.url}`, options);
    this.url = options.url;
    this.snapshotId = options.snapshotId;
    this.path = options.path;
  }
}

/** None of the paths given to a backup exist. */
export class BackupSourceMissingError extends NotFoundError {
  readonly url: string;
  readonly paths: string[];

  constructor(options: RepositoryErrorOptions & { paths: string[] }) {
    const shown = options.paths.slice(0, 3).map((p) => `'${p}'`).join(', ');
    const more = options.paths.length > 3 ? ` and ${options.paths.length - 3} more` : '';
    super(`nothing to back up into ${options.url}: ${shown}${more} do not exist`, options);
    this.url = options.url;
    this.paths = options.paths;
  }
}

/** The stream given to a stream backup failed (or `sourceComplete` rejected); no snapshot was created. */
export class BackupSourceFailedError extends InternalError {
  readonly url: string;
  readonly filename: string;

  constructor(options: RepositoryErrorOptions & { filename: string }) {
    const why = options.cause instanceof Error ? options.cause.message : String(options.cause);
    super(`source of '${options.filename}' failed (${why}); no snapshot was created in ${options.url}`, options);
    this.url = options.url;
    this.filename = options.filename;
  }
}

/**
 * The repository's stored data is damaged: a pack or blob fails its authentication or does not hash to
 * its id. Nothing read from it can be trusted; `verify --read-data` names the snapshots it touches.
 */
export class RepositoryDataDamagedError extends IllegalStateError {
  readonly url: string;
  readonly operation: string;
  /** restic's own words for what it read (`load <index/…>: invalid data returned`). */
  readonly detail: string;

  constructor(options: RepositoryErrorOptions & { operation: string; detail: string }) {
    super(`${options.operation} on repository ${options.url} read damaged data (${options.detail}): the repository's data is damaged`, options);
    this.url = options.url;
    this.operation = options.operation;
    this.detail = options.detail;
  }
}

/** Any other failure of the engine: its exit code and the tail of its error output (secrets removed). */
export class RepositoryCommandError extends InternalError {
  readonly url: string;
  readonly operation: string;
  readonly exitCode: number | undefined;
  readonly stderrTail: string;

  constructor(options: RepositoryErrorOptions & { operation: string; exitCode?: number; stderrTail: string }) {
    const code = options.exitCode === undefined ? 'no exit code' : `exit code ${options.exitCode}`;
    const tail = options.stderrTail ? `: ${options.stderrTail}` : '';
    super(`${options.operation} on repository ${options.url} failed (${code})${tail}`, options);
    this.url = options.url;
    this.operation = options.operation;
    this.exitCode = options.exitCode;
    this.stderrTail = options.stderrTail;
  }
}
