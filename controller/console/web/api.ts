/** The console's JSON API, as the page calls it (same-origin; the session cookie goes along). */
import type { ConsoleError, ConsoleMe, MigrationPlanAnswer, MigrationStart, RestoreChoice, RestorePlanAnswer, RestoreStart, SyncLinkRow } from '../protocol.js';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

async function call<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
  const res = await fetch(path, {
    method,
    credentials: 'same-origin',
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const data = (await res.json().catch(() => ({ code: 'INTERNAL', message: `${res.status} ${res.statusText}` }))) as unknown;
  if (!res.ok) {
    const e = data as Partial<ConsoleError>;
    throw new ApiError(res.status, e.code ?? 'INTERNAL', e.message ?? `${res.status} ${res.statusText}`);
  }
  return data as T;
}

export const api = {
  me: () => call<ConsoleMe>('GET', '/api/me'),
  login: (token: string) => call<ConsoleMe>('POST', '/api/login', { token }),
  logout: () => call<{ ok: boolean }>('POST', '/api/logout', {}),
  snapshotNow: (site: string) => call<{ jobId: string }>('POST', `/api/sites/${encodeURIComponent(site)}/snapshots`, {}),
  restorePlan: (site: string, choice: RestoreChoice) => call<RestorePlanAnswer>('POST', `/api/sites/${encodeURIComponent(site)}/restore-plan`, { choice }),
  verify: (site: string, snapshot: string) => call<{ jobId: string }>('POST', `/api/sites/${encodeURIComponent(site)}/snapshots/${encodeURIComponent(snapshot)}/verify`, {}),
  setSyncPaused: (link: string, paused: boolean) => call<SyncLinkRow>('POST', `/api/sync/${encodeURIComponent(link)}/${paused ? 'pause' : 'resume'}`, {}),
  migrationPlan: (site: string, toModel: string, regenerateNormalized: boolean) => call<MigrationPlanAnswer>('POST', `/api/sites/${encodeURIComponent(site)}/migration-plan`, { toModel, regenerateNormalized }),
  migrate: (site: string, body: MigrationStart) => call<{ jobId: string }>('POST', `/api/sites/${encodeURIComponent(site)}/migrations`, body),
  endMigration: (site: string, how: 'rollback' | 'finish', body: MigrationStart) => call<{ jobId: string }>('POST', `/api/sites/${encodeURIComponent(site)}/migrations/${how}`, body),
  restore: (site: string, body: RestoreStart) => call<{ jobId: string }>('POST', `/api/sites/${encodeURIComponent(site)}/restores`, body),
};
