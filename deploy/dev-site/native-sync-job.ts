/**
 * The nightly run of FindFace's native watch-list sync on a dev site's findface-security. Every second
 * the site clock (security-config.ts: the machine's plus an offset tests set) is compared with SYNC_TIME
 * in TIME_ZONE; the first tick inside that minute runs every replica: the master's export is fetched with
 * the sync token, its face model compared with this site's, and the slave list's content replaced
 * (native-sync-apply.ts). Each run's outcome is recorded on its replica row; one failing replica does not
 * stop the others.
 */
import type pg from 'pg';
import { describeError, UnavailableError, ValidationError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import { FACE_OBJECTS } from './items.js';
import { assertListExport, replaceListContent, type ApplyTarget } from './native-sync-apply.js';
import type { ListExport } from './native-sync-export.js';
import { listReplicas, recordRun, type LastSync, type Replica } from './native-sync-store.js';
import { siteNow, type SecurityConfig } from './security-config.js';

export interface NightlyDeps extends ApplyTarget {
  pool: pg.Pool;
  config: SecurityConfig;
  logger: Logger;
}

/** What a master's status means when a HEAD probe carries no `{detail}`. */
const STATUS_HINTS: Record<number, string> = {
  401: 'the sync token differs from the master\'s',
  403: 'sync is not configured on the master (no SYNC_TOKEN)',
  404: 'no such watch list on the master',
};

/** The master's export URL of a list. */
export function exportUrl(remoteUrl: string, list: number): string {
  return `${remoteUrl.replace(/\/+$/, '')}/sync/master/dossier-lists/${list}/`;
}

/** Asks the master for a list's export (`HEAD` probes it); UnavailableError naming master, list and answer. */
export async function requestExport(remoteUrl: string, list: number, token: string, method: 'GET' | 'HEAD'): Promise<unknown> {
  const url = exportUrl(remoteUrl, list);
  let res: Response;
  try {
    res = await fetch(url, { method, headers: { authorization: `Token ${token}` }, signal: AbortSignal.timeout(120_000) });
  } catch (err) {
    throw new UnavailableError(`master ${remoteUrl} did not answer the export of watch list ${list}: ${describeError(err)}`, { cause: err });
  }
  if (res.status !== 200) {
    const detail = method === 'GET' ? ((await res.json().catch(() => undefined)) as { detail?: string } | undefined)?.detail : STATUS_HINTS[res.status];
    throw new UnavailableError(`master ${remoteUrl} answered HTTP ${res.status} to the export of watch list ${list}${detail ? `: ${detail}` : ''}`);
  }
  return method === 'GET' ? res.json() : undefined;
}

/** `YYYY-MM-DDTHH:MM` of `date` in `timeZone`, and its hour and minute. */
export function minuteIn(date: Date, timeZone: string): { key: string; hour: number; minute: number } {
  const parts = new Intl.DateTimeFormat('en-CA', {
    timeZone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23',
  }).formatToParts(date);
  const get = (type: string): string => parts.find((p) => p.type === type)?.value ?? '';
  return { key: `${get('year')}-${get('month')}-${get('day')}T${get('hour')}:${get('minute')}`, hour: Number(get('hour')), minute: Number(get('minute')) };
}

export class NightlySync {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private lastMinute: string | undefined;

  constructor(private readonly deps: NightlyDeps) {}

  start(): void {
    this.timer = setInterval(() => this.tick(), 1000);
  }

  /** Stops ticking and waits for a run in progress. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  private tick(): void {
    const { syncTime } = this.deps.config.settings;
    let now;
    try {
      now = minuteIn(siteNow(this.deps.state), this.deps.config.timeZone);
    } catch (err) {
      this.deps.logger.warn({ err }, 'reading the site clock failed');
      return;
    }
    if (now.hour !== syncTime.hour || now.minute !== syncTime.minute || now.key === this.lastMinute || this.running) return;
    this.lastMinute = now.key;
    this.running = this.runAll()
      .catch((err: unknown) => this.deps.logger.error({ err }, 'native sync run failed'))
      .finally(() => (this.running = undefined));
  }

  /** Runs every replica once, one after the other. */
  async runAll(): Promise<void> {
    const replicas = await listReplicas(this.deps.pool);
    this.deps.logger.info({ replicas: replicas.length }, 'native sync: nightly run');
    for (const replica of replicas) {
      const run = await this.runOne(replica);
      await recordRun(this.deps.pool, replica.id, run).catch((err: unknown) => this.deps.logger.error({ err, replica: replica.id }, 'recording a native sync run failed'));
    }
  }

  private async runOne(replica: Replica): Promise<LastSync> {
    const started = new Date().toISOString();
    const log = this.deps.logger.child({ replica: replica.id, slaveList: replica.slave_dossier_list, master: replica.remote_url, masterList: replica.remote_dossier_list });
    try {
      const token = this.deps.config.settings.syncToken;
      if (token === undefined) throw new ValidationError(`sync is not configured: no SYNC_TOKEN in ${this.deps.config.configPath}`);
      const body = await requestExport(replica.remote_url, replica.remote_dossier_list, token, 'GET');
      assertListExport(body, replica.remote_url);
      assertSameModel(body, this.deps.state.vectors.models[FACE_OBJECTS], replica.remote_url);
      const applied = await replaceListContent(this.deps, replica.slave_dossier_list, body);
      log.info(applied, 'native sync: watch list replaced with the master\'s');
      return { started_at: started, finished_at: new Date().toISOString(), status: 'ok', ...applied };
    } catch (err) {
      log.warn({ err }, 'native sync: replica failed');
      return { started_at: started, finished_at: new Date().toISOString(), status: 'failed', error: describeError(err), dossiers: 0, faces: 0 };
    }
  }
}

function assertSameModel(exp: ListExport, ours: string, master: string): void {
  if (exp.model !== ours) {
    throw new ValidationError(`master ${master} holds faces of model '${exp.model}', this site uses model '${ours}': cannot replicate watch list ${exp.dossier_list?.id ?? '?'}`);
  }
}
