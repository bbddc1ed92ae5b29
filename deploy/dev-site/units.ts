/**
 * The site's processes as systemd-style units, named as FindFace names them: `findface-security` (the
 * writer), `findface-sf-api` (a stand-in), `findface-extraction-api`, `pgbouncer`, `tarantool@shard-001`,
 * ... (the site's shards and any other instance file in `etc/tarantool/instances.enabled/`, e.g. a
 * migration's `shard-011`). This is what the `systemctl` shim drives, and what `up`, `down` and `status`
 * use. `systemctl disable` is remembered in `<runDir>/units-disabled.json` (nothing starts at boot here).
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { NotFoundError, UnavailableError, ValidationError } from '../../shared/errors.js';
import { startPgbouncer, stopPgbouncer, PGBOUNCER_UNIT } from './pgbouncer.js';
import { spawnDetached, stopUnitProcess, tailOf, unitPid, waitUnitListening } from './procs.js';
import { cliCommand } from './self.js';
import { enabledInstances, type SiteState } from './state.js';
import { EXTRACTION_API_UNIT, SF_API_UNIT, UPLOAD_UNIT } from './unit-names.js';
import type { WriterStats } from './writer.js';

export const WRITER_UNIT = 'findface-security';

export interface Unit {
  name: string;
  start: () => Promise<number>;
  stop: () => Promise<boolean>;
}

export interface WriterStartOptions {
  rate?: number;
  concurrency?: number;
  /** Retention keeps at most this many events (the writer's default: max(10,000, 2 × events at start)). */
  eventCap?: number;
}

export function writerStatsFile(state: SiteState): string {
  return path.join(state.runDir, 'writer-stats.json');
}

/** The writer's last stats (while it runs: updated every second; after it stopped: final). */
export function readWriterStats(state: SiteState): WriterStats | undefined {
  const file = writerStatsFile(state);
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as WriterStats) : undefined;
}

function writerOptionsFile(state: SiteState): string {
  return path.join(state.runDir, 'writer-options.json');
}

/**
 * The options the writer was last started with (`<runDir>/writer-options.json`), like a unit file's
 * ExecStart: the `systemctl` shim starts and restarts the unit with them. Empty before the first start.
 */
export function readWriterOptions(state: SiteState): WriterStartOptions {
  const file = writerOptionsFile(state);
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as WriterStartOptions) : {};
}

/**
 * Starts the writer process (unless it runs) with `options` (unset ones: the site's defaults), records
 * them for later starts by the `systemctl` shim, and waits until it has begun writing and (on sites that
 * have one) its API listens.
 */
export async function startWriter(state: SiteState, options: WriterStartOptions = {}): Promise<number> {
  const running = unitPid(state.runDir, state.siteDir, WRITER_UNIT);
  if (running !== undefined) return running;
  const cli = cliCommand('unit-main');
  const rate = options.rate ?? state.writer.rate;
  const concurrency = options.concurrency ?? state.writer.concurrency;
  if (!Number.isInteger(rate) || rate < 0) throw new ValidationError(`dev site '${state.site}': writer rate must be an integer ≥ 0, got ${rate}`, { field: 'rate' });
  const recorded: WriterStartOptions = { rate, concurrency, ...(options.eventCap === undefined ? {} : { eventCap: options.eventCap }) };
  writeFileSync(`${writerOptionsFile(state)}.tmp`, `${JSON.stringify(recorded)}\n`);
  renameSync(`${writerOptionsFile(state)}.tmp`, writerOptionsFile(state));
  const logFile = path.join(state.runDir, 'writer.log');
  const pid = spawnDetached({
    unit: WRITER_UNIT,
    runDir: state.runDir,
    command: cli.command,
    args: [...cli.args, 'writer', '--site', state.site, '--', '--rate', String(rate), '--concurrency', String(concurrency),
      ...(options.eventCap === undefined ? [] : ['--event-cap', String(options.eventCap)])],
    cwd: state.runDir,
    logFile,
    env: { ...process.env, FFK_DEVSITE_ROOT: path.dirname(state.siteDir) },
  });
  const deadline = Date.now() + 30_000;
  while (readWriterStats(state)?.pid !== pid) {
    if (unitPid(state.runDir, state.siteDir, WRITER_UNIT) === undefined) {
      throw new UnavailableError(`dev site '${state.site}': writer exited at start:\n${tailOf(logFile)}`);
    }
    if (Date.now() > deadline) throw new UnavailableError(`dev site '${state.site}': writer did not report after 30 s:\n${tailOf(logFile)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  if (state.security) {
    try {
      await waitUnitListening({ runDir: state.runDir, siteDir: state.siteDir, unit: WRITER_UNIT, port: state.security.port, timeoutMs: 30_000 });
    } catch (err) {
      throw new UnavailableError(`dev site '${state.site}': findface-security API did not listen on port ${state.security.port}:\n${tailOf(logFile)}`, { cause: err });
    }
  }
  return pid;
}

/** Stops the writer gracefully (it finishes in-flight writes) and returns its final stats. */
export async function stopWriter(state: SiteState): Promise<WriterStats | undefined> {
  await stopWriterProcess(state);
  return readWriterStats(state);
}

function stopWriterProcess(state: SiteState): Promise<boolean> {
  return stopUnitProcess(state.runDir, state.siteDir, WRITER_UNIT, { signal: 'SIGTERM', graceMs: 20_000 });
}

/** The site's shards and every other enabled instance, by name. */
function shardNames(state: SiteState): string[] {
  const own = state.shards.map((s) => s.name);
  return [...own, ...enabledInstances(state.siteDir).filter((n) => !own.includes(n))];
}

/** Every unit of the site, in start order. */
export function unitsOf(state: SiteState): Unit[] {
  const extraction = state.extractionApi
    ? [{
        name: EXTRACTION_API_UNIT,
        start: async () => (await import('./extraction-api.js')).startExtractionApi(state),
        stop: async () => (await import('./extraction-api.js')).stopExtractionApi(state),
      }]
    : [];
  const upload = state.upload
    ? [{ name: UPLOAD_UNIT, start: async () => (await import('./upload.js')).startUpload(state), stop: async () => (await import('./upload.js')).stopUpload(state) }]
    : [];
  return [
    // The shard, sf-api and extraction-api modules load their clients and config readers: imported when a
    // unit needs them (the systemctl shim runs in a process of its own at every call).
    ...shardNames(state).map((name) => ({
      name: `tarantool@${name}`,
      start: async () => (await import('./tarantool.js')).startShardUnit(state, name),
      stop: async () => (await import('./tarantool.js')).stopShard(state, { unit: `tarantool@${name}` }),
    })),
    { name: PGBOUNCER_UNIT, start: () => startPgbouncer(state), stop: () => stopPgbouncer(state) },
    ...extraction,
    ...upload,
    { name: SF_API_UNIT, start: async () => (await import('./sfapi.js')).startSfApi(state), stop: async () => (await import('./sfapi.js')).stopSfApi(state) },
    { name: WRITER_UNIT, start: () => startWriter(state, readWriterOptions(state)), stop: () => stopWriterProcess(state) },
  ];
}

function disabledFile(state: SiteState): string {
  return path.join(state.runDir, 'units-disabled.json');
}

/** True unless `systemctl disable` was run for the unit (and no `enable` since). */
export function isEnabled(state: SiteState, name: string): boolean {
  const unit = unitOf(state, name).name;
  const file = disabledFile(state);
  return !(existsSync(file) && (JSON.parse(readFileSync(file, 'utf8')) as string[]).includes(unit));
}

/** `systemctl enable|disable`: remembered for `is-enabled` (a dev site starts nothing at boot). */
export function setEnabled(state: SiteState, name: string, enabled: boolean): void {
  const unit = unitOf(state, name).name;
  const file = disabledFile(state);
  const disabled = new Set(existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as string[]) : []);
  if (enabled) disabled.delete(unit);
  else disabled.add(unit);
  writeFileSync(`${file}.tmp`, `${JSON.stringify([...disabled].sort())}\n`);
  renameSync(`${file}.tmp`, file);
}

/** A unit by name (`.service` suffix allowed); NotFoundError naming it otherwise. */
export function unitOf(state: SiteState, name: string): Unit {
  const bare = name.replace(/\.service$/, '');
  const unit = unitsOf(state).find((u) => u.name === bare);
  if (!unit) throw new NotFoundError(`unit '${name}' not found in dev site '${state.site}'`);
  return unit;
}

/** True when the unit's process runs. */
export function isActive(state: SiteState, name: string): boolean {
  return unitPid(state.runDir, state.siteDir, unitOf(state, name).name) !== undefined;
}

/** Every unit with its pid (undefined when not running). */
export function unitStatuses(state: SiteState): Array<{ unit: string; pid: number | undefined }> {
  return unitsOf(state).map((u) => ({ unit: u.name, pid: unitPid(state.runDir, state.siteDir, u.name) }));
}
