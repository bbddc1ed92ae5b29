/**
 * The pino logger factory. One root per process, created in its `main.ts` and passed down; children
 * carry context (`logger.child({ site, host, jobId })`). Secrets are redacted by key wherever they
 * appear in a logged object, so a password handed to a job can never reach a log line.
 */
import { pino, destination, type Logger, type LoggerOptions, type DestinationStream } from 'pino';

export type { Logger } from 'pino';

/** Keys whose values never reach a log. Paths are pino redact paths (one level of nesting and any depth via `*`). */
export const REDACTED_KEYS = [
  'password',
  'pass',
  'token',
  'secret',
  'repositoryPassword',
  'repository_password',
  'RESTIC_PASSWORD',
  'PGPASSWORD',
  'authorization',
  'syncToken',
] as const;

function redactPaths(): string[] {
  const paths: string[] = [];
  for (const key of REDACTED_KEYS) {
    paths.push(key, `*.${key}`, `*.*.${key}`, `*.*.*.${key}`);
  }
  return paths;
}

export interface LoggerConfig {
  name: string;
  level?: string;
  /** Where to write; defaults to stderr so stdout stays free for command output. */
  destination?: DestinationStream;
}

export function createLogger(config: LoggerConfig): Logger {
  const options: LoggerOptions = {
    name: config.name,
    level: config.level ?? process.env.FFK_LOG_LEVEL ?? 'info',
    redact: { paths: redactPaths(), censor: '[redacted]' },
    base: { pid: process.pid },
  };
  return pino(options, config.destination ?? destination(2));
}

/** A logger that drops everything; for tests and the CLI when not verbose. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
