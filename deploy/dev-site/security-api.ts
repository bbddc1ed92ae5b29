/**
 * findface-security's HTTP API on a dev site: the endpoints of FindFace's native master/slave watch-list
 * sync (the `ffsecurity_sync` plugin). Every /sync/ endpoint authenticates with `Authorization: Token
 * <SYNC_TOKEN>` (403 when config.py sets no SYNC_TOKEN, 401 for a wrong or missing token); real FindFace
 * authenticates the management endpoints with a user's token instead. Answers are JSON `{detail}` on error.
 *   GET    /sync/dossier-lists/                 the replicas of this site
 *   POST   /sync/dossier-lists/                 {remote_dossier_list, remote_url, slave_dossier_list} → 201
 *   DELETE /sync/dossier-lists/{slave list}/    → 204 (the list keeps its content)
 *   GET    /sync/master/dossier-lists/{list}/   the list's full content, for a slave (HEAD: probe only)
 */
import http from 'node:http';
import type pg from 'pg';
import { describeError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import { exportList, type ExportSource } from './native-sync-export.js';
import { requestExport } from './native-sync-job.js';
import { deleteReplica, insertReplica, listReplicas, replicaOfList, watchListExists, type NewReplica } from './native-sync-store.js';
import type { SecurityConfig } from './security-config.js';

export interface SecurityApiDeps extends ExportSource {
  pool: pg.Pool;
  config: SecurityConfig;
  logger: Logger;
}

interface Answer {
  status: number;
  body?: unknown;
}

/** An answer other than success, with FindFace's `{detail}` body. */
class HttpProblem extends Error {
  constructor(
    readonly status: number,
    detail: string,
  ) {
    super(detail);
  }
}

const MAX_BODY = 64 * 1024;

/** The API server (not yet listening). */
export function createSecurityServer(deps: SecurityApiDeps): http.Server {
  return http.createServer((req, res) => {
    void answer(deps, req).then((a) => {
      const body = a.body === undefined || req.method === 'HEAD' ? undefined : JSON.stringify(a.body);
      res.writeHead(a.status, body === undefined ? {} : { 'content-type': 'application/json' });
      res.end(body);
    });
  });
}

async function answer(deps: SecurityApiDeps, req: http.IncomingMessage): Promise<Answer> {
  try {
    return await route(deps, req);
  } catch (err) {
    if (err instanceof HttpProblem) return { status: err.status, body: { detail: err.message } };
    deps.logger.error({ err, method: req.method, url: req.url }, 'request failed');
    return { status: 500, body: { detail: describeError(err) } };
  }
}

async function route(deps: SecurityApiDeps, req: http.IncomingMessage): Promise<Answer> {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const p = url.pathname.endsWith('/') ? url.pathname : `${url.pathname}/`;
  const method = req.method ?? 'GET';
  if (!p.startsWith('/sync/')) throw new HttpProblem(404, 'Not found.');
  authenticate(deps.config, req.headers.authorization);
  if (p === '/sync/dossier-lists/') {
    if (method === 'GET') return { status: 200, body: { results: await listReplicas(deps.pool) } };
    if (method === 'POST') return createReplica(deps, await readJson(req));
    throw notAllowed(method);
  }
  const replica = /^\/sync\/dossier-lists\/([^/]+)\/$/.exec(p);
  if (replica) {
    if (method !== 'DELETE') throw notAllowed(method);
    const id = pathId(replica[1] as string);
    if (id === undefined || !(await deleteReplica(deps.pool, id))) throw new HttpProblem(404, `watch list ${replica[1]} is not a replica`);
    return { status: 204 };
  }
  const master = /^\/sync\/master\/dossier-lists\/([^/]+)\/$/.exec(p);
  if (master) {
    if (method !== 'GET' && method !== 'HEAD') throw notAllowed(method);
    const id = pathId(master[1] as string);
    const missing = new HttpProblem(404, `watch list ${master[1]} does not exist`);
    if (id === undefined) throw missing;
    if (method === 'HEAD') {
      if (!(await watchListExists(deps.pool, id))) throw missing;
      return { status: 200 };
    }
    const exp = await exportList(deps, id);
    if (!exp) throw missing;
    return { status: 200, body: exp };
  }
  throw new HttpProblem(404, 'Not found.');
}

function authenticate(config: SecurityConfig, header: string | undefined): void {
  const token = config.settings.syncToken;
  if (token === undefined) throw new HttpProblem(403, `sync is not configured: no SYNC_TOKEN in ${config.configPath}`);
  if (header !== `Token ${token}`) throw new HttpProblem(401, 'invalid token');
}

function notAllowed(method: string): HttpProblem {
  return new HttpProblem(405, `Method "${method}" not allowed.`);
}

function pathId(s: string): number | undefined {
  return /^\d{1,9}$/.test(s) ? Number(s) : undefined;
}

async function readJson(req: http.IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) throw new HttpProblem(413, `request body is larger than ${MAX_BODY} bytes`);
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new HttpProblem(400, 'request body is not JSON');
  }
}

/** The fields of a new replica; 400 naming the first bad one. */
function parseNewReplica(body: unknown): NewReplica {
  const b = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
  for (const field of ['remote_dossier_list', 'slave_dossier_list'] as const) {
    const v = b[field];
    if (v === undefined) throw new HttpProblem(400, `${field}: this field is required`);
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new HttpProblem(400, `${field}: a positive integer is required, got ${JSON.stringify(v)}`);
  }
  const url = b.remote_url;
  if (url === undefined) throw new HttpProblem(400, 'remote_url: this field is required');
  if (typeof url !== 'string' || !/^https?:\/\/[^\s/]+/.test(url)) throw new HttpProblem(400, `remote_url: an http(s) URL is required, got ${JSON.stringify(url)}`);
  return { remote_dossier_list: b.remote_dossier_list as number, remote_url: url, slave_dossier_list: b.slave_dossier_list as number };
}

/** POST /sync/dossier-lists/: validates, probes the master, stores the replica (the nightly run syncs it). */
async function createReplica(deps: SecurityApiDeps, body: unknown): Promise<Answer> {
  const r = parseNewReplica(body);
  if (!(await watchListExists(deps.pool, r.slave_dossier_list))) {
    throw new HttpProblem(400, `slave_dossier_list: watch list ${r.slave_dossier_list} does not exist on this site`);
  }
  const existing = await replicaOfList(deps.pool, r.slave_dossier_list);
  if (existing) throw alreadyReplica(existing);
  try {
    await requestExport(r.remote_url, r.remote_dossier_list, deps.config.settings.syncToken as string, 'HEAD');
  } catch (err) {
    throw new HttpProblem(400, `remote_url: ${describeError(err)}`);
  }
  const created = await insertReplica(deps.pool, r);
  if (!created) {
    const now = await replicaOfList(deps.pool, r.slave_dossier_list);
    throw now ? alreadyReplica(now) : new HttpProblem(409, `watch list ${r.slave_dossier_list}: replica changed concurrently, try again`);
  }
  return { status: 201, body: created };
}

function alreadyReplica(r: { slave_dossier_list: number; remote_dossier_list: number; remote_url: string }): HttpProblem {
  return new HttpProblem(400, `slave_dossier_list: watch list ${r.slave_dossier_list} is already a replica of watch list ${r.remote_dossier_list} at ${r.remote_url}`);
}
