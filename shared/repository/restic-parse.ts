/**
 * Decoders of restic 0.14's non-streaming output: `cat config`, `snapshots --json`, `stats --json` and
 * the text of `check`. Malformed output is an `RepositoryCommandError` naming the command, never a
 * silently empty result.
 */
import { RepositoryCommandError } from './errors.js';
import type { CheckResult, RepositoryInfo, RepositoryStats, SnapshotInfo, SnapshotSizes } from './repository.js';
import { classifyFailure, redact } from './restic-errors.js';
import type { ResticContext, RunResult, RunSpec } from './restic-run.js';
import { stripAnsi } from './restic-validate.js';

type JsonObject = Record<string, unknown>;

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function malformed(url: string, operation: string, what: string): RepositoryCommandError {
  return new RepositoryCommandError({ url, operation, exitCode: 0, stderrTail: `unexpected output: ${what}` });
}

function parseJson(text: string, url: string, operation: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw malformed(url, operation, 'not JSON');
  }
}

/** `restic cat config` → id and format version. */
export function parseRepositoryInfo(stdout: string, url: string): RepositoryInfo {
  const config = parseJson(stdout, url, 'open');
  if (!isObject(config) || typeof config.id !== 'string' || typeof config.version !== 'number') {
    throw malformed(url, 'open', 'config without id or version');
  }
  return { id: config.id, formatVersion: config.version };
}

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

/** Per-snapshot sizes, which restic records from 0.17 on; absent in 0.14's output. */
function sizesOf(value: unknown): SnapshotSizes | undefined {
  if (!isObject(value)) return undefined;
  const n = (key: string): number => (typeof value[key] === 'number' ? (value[key] as number) : 0);
  return {
    filesNew: n('files_new'),
    filesChanged: n('files_changed'),
    filesUnmodified: n('files_unmodified'),
    dataAddedBytes: n('data_added'),
    totalFilesProcessed: n('total_files_processed'),
    totalBytesProcessed: n('total_bytes_processed'),
  };
}

function snapshotOf(raw: unknown, url: string): SnapshotInfo {
  if (!isObject(raw) || typeof raw.id !== 'string' || typeof raw.time !== 'string') {
    throw malformed(url, 'list snapshots', 'snapshot without id or time');
  }
  const info: SnapshotInfo = {
    id: raw.id,
    shortId: typeof raw.short_id === 'string' ? raw.short_id : raw.id.slice(0, 8),
    time: new Date(raw.time),
    host: typeof raw.hostname === 'string' ? raw.hostname : '',
    tags: strings(raw.tags),
    paths: strings(raw.paths),
  };
  if (typeof raw.username === 'string') info.username = raw.username;
  if (typeof raw.parent === 'string') info.parentId = raw.parent;
  if (typeof raw.original === 'string') info.originalId = raw.original;
  const sizes = sizesOf(raw.summary);
  if (sizes) info.sizes = sizes;
  return info;
}

/** `restic snapshots --json` → snapshots, oldest first. */
export function parseSnapshots(stdout: string, url: string): SnapshotInfo[] {
  const list = parseJson(stdout.trim() || '[]', url, 'list snapshots');
  if (!Array.isArray(list)) throw malformed(url, 'list snapshots', 'not a list');
  return list.map((s) => snapshotOf(s, url)).sort((a, b) => a.time.getTime() - b.time.getTime());
}

/** `restic find --json …` → the ids of the snapshots it found anything in. */
export function parseFoundSnapshots(stdout: string): string[] {
  return [...new Set([...stdout.matchAll(/"snapshot":"([0-9a-f]{64})"/g)].map((m) => m[1] as string))];
}

/** `restic snapshots --json` → each root tree and the snapshots whose root it is. */
export function parseSnapshotRoots(stdout: string, url: string): Map<string, string[]> {
  const list = parseJson(stdout.trim() || '[]', url, 'list snapshots');
  if (!Array.isArray(list)) throw malformed(url, 'list snapshots', 'not a list');
  const roots = new Map<string, string[]>();
  for (const s of list) {
    if (isObject(s) && typeof s.id === 'string' && typeof s.tree === 'string') roots.set(s.tree, [...(roots.get(s.tree) ?? []), s.id]);
  }
  return roots;
}

/** `restic cat index ID` → the ids of the tree blobs it places in any of `packs`. */
export function parseIndexTrees(stdout: string, url: string, packs: ReadonlySet<string>): string[] {
  const index = parseJson(stdout, url, 'cat index');
  if (!isObject(index) || !Array.isArray(index.packs)) throw malformed(url, 'cat index', 'no packs');
  const trees: string[] = [];
  for (const p of index.packs) {
    if (!isObject(p) || typeof p.id !== 'string' || !packs.has(p.id) || !Array.isArray(p.blobs)) continue;
    for (const b of p.blobs) if (isObject(b) && b.type === 'tree' && typeof b.id === 'string') trees.push(b.id);
  }
  return trees;
}

/** `restic stats --json` → totals. */
export function parseStats(stdout: string, url: string): RepositoryStats {
  const stats = parseJson(stdout, url, 'stats');
  if (!isObject(stats) || typeof stats.total_size !== 'number') throw malformed(url, 'stats', 'no total_size');
  return {
    totalBytes: stats.total_size,
    totalFiles: typeof stats.total_file_count === 'number' ? stats.total_file_count : 0,
    snapshotCount: typeof stats.snapshots_count === 'number' ? stats.snapshots_count : 0,
  };
}

/** Lines of `restic check` that only say what it is doing. */
const CHECK_NOISE = [
  /^\[\d+:\d+\]/,
  /^using temporary cache in /,
  /^create exclusive lock for repository$/,
  /^load indexes$/,
  /^check all packs$/,
  /^check snapshots, trees and blobs$/,
  /^read all data$/,
  /^read group of packs/,
  /^no errors were found$/,
  /^Fatal: repository contains errors$/,
];

/** Exit 0 → ok; exit 1 with "repository contains errors" → findings; any other failure → typed error. */
export function checkResult(ctx: ResticContext, spec: RunSpec, result: RunResult): CheckResult {
  if (result.exitCode === 0) return { ok: true, problems: [] };
  const text = redact(`${result.stdout}\n${result.stderr}`, ctx.url.raw, ctx.url.display, ctx.secrets);
  if (!/repository contains errors/.test(text)) {
    throw classifyFailure({
      url: ctx.url.display,
      rawUrl: ctx.url.raw,
      operation: spec.operation,
      secrets: ctx.secrets,
      exitCode: result.exitCode,
      stderr: result.stderr,
    });
  }
  const problems = text
    .split('\n')
    .map((l) => stripAnsi(l).trim())
    .filter((l) => l.length > 0 && !CHECK_NOISE.some((re) => re.test(l)));
  // `Pack ID does not match, want <id>, got <hash>` (read-data) and `pack <id>: …` name the damaged pack.
  const damagedPacks = [...new Set([...text.matchAll(/\b(?:want|pack) ([0-9a-f]{64})\b/gi)].map((m) => (m[1] as string).toLowerCase()))];
  return { ok: false, problems: problems.length > 0 ? problems : ['repository contains errors'], ...(damagedPacks.length > 0 ? { damagedPacks } : {}) };
}
