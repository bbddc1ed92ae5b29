/**
 * findface-security on this host for the native sync: its config.py on disk (replaced atomically with
 * its mode kept) and its `/sync/dossier-lists/` API over HTTP (`Authorization: Token <SYNC_TOKEN>`).
 */
import { chmod, chown, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { IllegalStateError, NotFoundError, TimeoutError, UnavailableError, ValidationError } from '../../../shared/errors.js';
import type { NativeReplica, NativeRun } from '../../../shared/sync/native.js';
import type { SecurityConfigFile, SecuritySyncApi } from '../../domain/sync/native.js';

export class FsSecurityConfigFile implements SecurityConfigFile {
  constructor(readonly path: string) {}

  async read(): Promise<string> {
    try {
      return await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new NotFoundError(`findface-security config ${this.path} does not exist`, { cause: err });
      throw err;
    }
  }

  async write(text: string): Promise<void> {
    const before = await stat(this.path);
    const tmp = `${this.path}.ffkeeper-${process.pid}`;
    await writeFile(tmp, text, { mode: before.mode & 0o7777 });
    await chmod(tmp, before.mode & 0o7777);
    await chown(tmp, before.uid, before.gid).catch(() => undefined);
    await rename(tmp, this.path);
  }
}

interface RawReplica {
  id: number;
  remote_dossier_list: number;
  remote_url: string;
  slave_dossier_list: number;
  created_date?: string;
  last_sync?: { started_at: string; finished_at?: string | null; status: string; error?: string | null; dossiers?: number; faces?: number } | null;
}

function replicaOf(r: RawReplica): NativeReplica {
  const run = r.last_sync;
  const lastRun: NativeRun | undefined = run
    ? {
        startedAt: run.started_at,
        ...(run.finished_at ? { finishedAt: run.finished_at } : {}),
        status: run.status === 'ok' || run.status === 'failed' ? run.status : 'running',
        ...(run.error ? { error: run.error } : {}),
        ...(run.dossiers === undefined ? {} : { dossiers: run.dossiers }),
        ...(run.faces === undefined ? {} : { faces: run.faces }),
      }
    : undefined;
  return {
    id: r.id,
    remoteList: r.remote_dossier_list,
    remoteUrl: r.remote_url,
    slaveList: r.slave_dossier_list,
    ...(r.created_date ? { createdAt: r.created_date } : {}),
    ...(lastRun ? { lastRun } : {}),
  };
}

const CALL_TIMEOUT_MS = 60_000;

export class HttpSecuritySyncApi implements SecuritySyncApi {
  readonly url: string;

  constructor(url: string) {
    this.url = url.replace(/\/+$/, '');
  }

  async replicas(token: string): Promise<NativeReplica[]> {
    const body = (await this.call('GET', '/sync/dossier-lists/', token)) as { results?: RawReplica[] };
    return (body.results ?? []).map(replicaOf);
  }

  async create(token: string, link: { remoteList: number; remoteUrl: string; slaveList: number }): Promise<NativeReplica> {
    const body = { remote_dossier_list: link.remoteList, remote_url: link.remoteUrl, slave_dossier_list: link.slaveList };
    return replicaOf((await this.call('POST', '/sync/dossier-lists/', token, body)) as RawReplica);
  }

  async remove(token: string, slaveList: number): Promise<boolean> {
    try {
      await this.call('DELETE', `/sync/dossier-lists/${slaveList}/`, token);
      return true;
    } catch (err) {
      if (err instanceof NotFoundError) return false;
      throw err;
    }
  }

  async waitReady(token: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        await this.call('GET', '/sync/dossier-lists/', token);
        return;
      } catch (err) {
        if (!(err instanceof UnavailableError)) return; // it answers (even a refusal means it is up)
        if (Date.now() > deadline) throw new TimeoutError(`findface-security at ${this.url} did not answer within ${Math.round(timeoutMs / 1000)} s: ${err.message}`);
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  private async call(method: string, path: string, token: string, body?: unknown): Promise<unknown> {
    const where = `findface-security ${method} ${this.url}${path}`;
    let res: Response;
    try {
      res = await fetch(`${this.url}${path}`, {
        method,
        headers: { authorization: `Token ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(CALL_TIMEOUT_MS),
      });
    } catch (err) {
      throw new UnavailableError(`${where}: not reachable (${(err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message})`, { cause: err });
    }
    const text = await res.text();
    if (res.ok) return text === '' ? {} : (JSON.parse(text) as unknown);
    const detail = detailOf(text);
    if (res.status === 404) throw new NotFoundError(`${where}: ${detail}`);
    if (res.status === 400) throw new ValidationError(`${where}: ${detail}`);
    if (res.status === 401 || res.status === 403) throw new IllegalStateError(`${where}: refused (${res.status}): ${detail}`);
    throw new UnavailableError(`${where}: HTTP ${res.status}: ${detail}`);
  }
}

function detailOf(text: string): string {
  try {
    const o = JSON.parse(text) as { detail?: unknown };
    if (typeof o.detail === 'string') return o.detail;
  } catch {
    // not JSON: the text itself
  }
  return text.slice(0, 300) || '(no body)';
}
