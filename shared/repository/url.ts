/**
 * Repository locations as restic accepts them: an absolute local path (or `local:`), `sftp:`, `s3:`,
 * `rest:`, `rclone:` and restic's other backends. We check the obvious shape and pass the rest through;
 * credentials embedded in a URL (`rest:https://user:pass@host/`) are masked wherever the URL is shown.
 */
import path from 'node:path';
import { ValidationError } from '../errors.js';

/** Backends restic 0.14 knows, by their prefix. */
export const REPOSITORY_SCHEMES = ['local', 'sftp', 's3', 'rest', 'rclone', 'b2', 'azure', 'gs', 'swift'] as const;

export type RepositoryScheme = (typeof REPOSITORY_SCHEMES)[number];

/** A validated repository location. */
export interface ParsedRepositoryUrl {
  scheme: RepositoryScheme;
  /** The location exactly as restic receives it. */
  raw: string;
  /** Safe to log: any `user:password@` has its password replaced by `***`. */
  display: string;
  /** Secret parts of the URL (raw and percent-decoded) that must never appear in messages. */
  secrets: string[];
}

const USERINFO = /(\/\/[^/@:\s]*):([^/@\s]*)@/g;

function invalid(url: string, why: string): ValidationError {
  return new ValidationError(`invalid repository URL '${maskUrlCredentials(url)}': ${why}`, { field: 'url' });
}

/** Replaces the password of every `//user:password@` in `text` with `***`. */
export function maskUrlCredentials(text: string): string {
  return text.replace(USERINFO, '$1:***@');
}

function urlSecrets(url: string): string[] {
  const secrets: string[] = [];
  for (const match of url.matchAll(USERINFO)) {
    const secret = match[2];
    if (!secret) continue;
    secrets.push(secret);
    try {
      const decoded = decodeURIComponent(secret);
      if (decoded !== secret) secrets.push(decoded);
    } catch {
      // not percent-encoded: the raw form is enough
    }
  }
  return secrets;
}

function schemeOf(url: string): RepositoryScheme | undefined {
  const colon = url.indexOf(':');
  if (colon <= 0) return undefined;
  const prefix = url.slice(0, colon);
  return (REPOSITORY_SCHEMES as readonly string[]).includes(prefix) ? (prefix as RepositoryScheme) : undefined;
}

function checkRemote(url: string, scheme: RepositoryScheme): void {
  const rest = url.slice(scheme.length + 1);
  if (rest.length === 0) throw invalid(url, `nothing after '${scheme}:'`);
  if (scheme === 'rest' && !/^https?:\/\/[^/]+/.test(rest)) {
    throw invalid(url, "rest: needs an http(s) URL, e.g. 'rest:https://host:8000/repo'");
  }
  if (scheme === 'sftp' && !/^(\/\/[^/]+\/.+|[^:/]+:.+)$/.test(rest)) {
    throw invalid(url, "sftp: needs a host and a path, e.g. 'sftp:user@host:/srv/restic'");
  }
  if (scheme === 's3' && !/^([^/]+\/[^/].*|https?:\/\/[^/]+\/[^/].*)$/.test(rest)) {
    throw invalid(url, "s3: needs a server and a bucket, e.g. 's3:https://s3.example.com/bucket'");
  }
  if (scheme === 'rclone' && !/^[^:]+:.*$/.test(rest)) {
    throw invalid(url, "rclone: needs a remote, e.g. 'rclone:remote:path'");
  }
}

/** Validates a repository location; throws `ValidationError` (field `url`) naming what is wrong. */
export function parseRepositoryUrl(url: string): ParsedRepositoryUrl {
  if (url.trim() !== url || url.length === 0) throw invalid(url, 'empty or surrounded by whitespace');
  if (/[\0\n\r]/.test(url)) throw invalid(url, 'contains a control character');
  const scheme = schemeOf(url);
  if (scheme === undefined) {
    if (!path.isAbsolute(url)) {
      throw invalid(url, `not an absolute local path and no known backend prefix (${REPOSITORY_SCHEMES.join(':, ')}:)`);
    }
    return { scheme: 'local', raw: url, display: url, secrets: [] };
  }
  if (scheme === 'local') {
    if (!path.isAbsolute(url.slice('local:'.length))) throw invalid(url, 'local: needs an absolute path');
  } else {
    checkRemote(url, scheme);
  }
  return { scheme, raw: url, display: maskUrlCredentials(url), secrets: urlSecrets(url) };
}
