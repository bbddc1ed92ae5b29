/**
 * Parsing of restic's `--json` output (restic 0.14): a line splitter that copes with lines split across
 * chunks (and UTF-8 characters split across chunks), and a decoder of backup messages (`status`,
 * `error`, `summary`) into typed progress events. Anything that is not a JSON object of a known
 * message type is handed back as text, never thrown.
 */
import { StringDecoder } from 'node:string_decoder';
import { getSystemErrorName } from 'node:util';
import type { ProgressItemError, ProgressUpdate } from './repository.js';

/** Splits a byte or text stream into lines ('\n', with an optional '\r' dropped). */
export class LineSplitter {
  private readonly decoder = new StringDecoder('utf8');
  private pending = '';

  /** Feeds one chunk; returns the lines it completed. */
  push(chunk: Buffer | string): string[] {
    this.pending += typeof chunk === 'string' ? chunk : this.decoder.write(chunk);
    const parts = this.pending.split('\n');
    this.pending = parts.pop() ?? '';
    return parts.map(stripCr);
  }

  /** Returns the last, unterminated line (if any) once the stream has ended. */
  flush(): string[] {
    this.pending += this.decoder.end();
    const last = this.pending;
    this.pending = '';
    return last.length > 0 ? [stripCr(last)] : [];
  }
}

function stripCr(line: string): string {
  return line.endsWith('\r') ? line.slice(0, -1) : line;
}

/** The fields of restic's backup `summary` message that we keep (the snapshot id is the short one). */
export interface ResticBackupSummary {
  shortSnapshotId: string;
  filesNew: number;
  filesChanged: number;
  filesUnmodified: number;
  dirsNew: number;
  dirsChanged: number;
  dirsUnmodified: number;
  dataAddedBytes: number;
  totalFilesProcessed: number;
  totalBytesProcessed: number;
  durationSeconds: number;
}

/** One decoded line of `restic backup --json`. */
export type BackupLine =
  | { type: 'progress'; event: ProgressUpdate }
  | { type: 'error'; event: ProgressItemError }
  | { type: 'summary'; summary: ResticBackupSummary }
  | { type: 'text'; line: string };

type JsonObject = Record<string, unknown>;

function num(obj: JsonObject, key: string): number {
  const value = obj[key];
  return typeof value === 'number' && Number.isFinite(value) ? value : 0;
}

function str(obj: JsonObject, key: string): string {
  const value = obj[key];
  return typeof value === 'string' ? value : '';
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Parses one line as a JSON object; undefined for anything else. */
export function parseJsonObject(line: string): JsonObject | undefined {
  const trimmed = line.trim();
  if (!trimmed.startsWith('{')) return undefined;
  try {
    const value: unknown = JSON.parse(trimmed);
    return isObject(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/** A remaining time above this (a year) is restic's overflow, not an estimate. */
const MAX_ETA_SECONDS = 365 * 86_400;

function statusEvent(obj: JsonObject): ProgressUpdate {
  const event: ProgressUpdate = {
    kind: 'progress',
    bytesDone: num(obj, 'bytes_done'),
    bytesTotal: num(obj, 'total_bytes'),
    filesDone: num(obj, 'files_done'),
    filesTotal: num(obj, 'total_files'),
  };
  // With nothing done yet (a --stdin backup before its data) restic divides by a zero rate and prints a
  // remaining time of ~2.5e15 hours (seen: `ETA 2562047788015215h30m`): not an estimate.
  if (typeof obj.seconds_remaining === 'number' && obj.seconds_remaining <= MAX_ETA_SECONDS) event.etaSeconds = obj.seconds_remaining;
  const current = obj.current_files;
  if (Array.isArray(current)) event.currentFiles = current.filter((f): f is string => typeof f === 'string');
  return event;
}

/**
 * restic 0.14 marshals Go errors as they are: a string, `{}`, or an `*os.PathError` such as
 * `{"Op":"open","Path":"/x","Err":13}` whose errno we turn back into words.
 */
export function describeResticError(error: unknown): string {
  if (typeof error === 'string') return error;
  if (!isObject(error)) return 'unknown error';
  if (typeof error.message === 'string') return error.message;
  const op = str(error, 'Op');
  const target = str(error, 'Path');
  const inner = error.Err;
  let cause = 'failed';
  if (typeof inner === 'number') cause = errnoText(inner);
  else if (typeof inner === 'string') cause = inner;
  else if (isObject(inner) && Object.keys(inner).length > 0) cause = describeResticError(inner);
  return [op, target].filter((s) => s.length > 0).join(' ') + (op || target ? ': ' : '') + cause;
}

function errnoText(errno: number): string {
  try {
    return `${getSystemErrorName(-errno)} (errno ${errno})`;
  } catch {
    return `errno ${errno}`;
  }
}

function errorEvent(obj: JsonObject): ProgressItemError {
  const during = str(obj, 'during');
  const message = describeResticError(obj.error);
  return { kind: 'error', path: str(obj, 'item'), message: during ? `${message} (during ${during})` : message };
}

function summaryOf(obj: JsonObject): ResticBackupSummary {
  return {
    shortSnapshotId: str(obj, 'snapshot_id'),
    filesNew: num(obj, 'files_new'),
    filesChanged: num(obj, 'files_changed'),
    filesUnmodified: num(obj, 'files_unmodified'),
    dirsNew: num(obj, 'dirs_new'),
    dirsChanged: num(obj, 'dirs_changed'),
    dirsUnmodified: num(obj, 'dirs_unmodified'),
    dataAddedBytes: num(obj, 'data_added'),
    totalFilesProcessed: num(obj, 'total_files_processed'),
    totalBytesProcessed: num(obj, 'total_bytes_processed'),
    durationSeconds: num(obj, 'total_duration'),
  };
}

/** Decodes one line of `restic backup --json` output. */
export function parseBackupLine(line: string): BackupLine {
  const obj = parseJsonObject(line);
  if (obj === undefined) return { type: 'text', line };
  switch (obj.message_type) {
    case 'status':
      // `--verbose` adds status lines naming an action (`scan_finished`): not progress
      return obj.action === undefined ? { type: 'progress', event: statusEvent(obj) } : { type: 'text', line };
    case 'error':
      return { type: 'error', event: errorEvent(obj) };
    case 'summary':
      return { type: 'summary', summary: summaryOf(obj) };
    default:
      return { type: 'text', line };
  }
}
