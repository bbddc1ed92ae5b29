/**
 * The web console's HTTPS server (issue 18), on its own address (config `console.listen`): the page and
 * its assets, the login with a console token (a session cookie in return), and a small JSON/SSE API whose
 * every call goes through the controller's role checks and audit (api.ts → guard.ts). Routes:
 *   GET  /, /app.css, /web/<module>.js     the page (no session needed)
 *   POST /api/login {token}                 → 200 ConsoleMe + Set-Cookie; 403 with the reason
 *   POST /api/logout
 *   GET  /api/me                            → ConsoleMe
 *   GET  /api/stream?view=fleet | view=site&site=S | view=job&id=J | view=sync | view=link&id=L
 *                                           Server-Sent Events (stream.ts)
 *   POST /api/sites/<site>/snapshots        → 202 {jobId}
 *   POST /api/sites/<site>/snapshots/<id>/verify {readData?}   → 202 {jobId}
 *   POST /api/sites/<site>/restore-plan {choice}          → 200 RestorePlanAnswer (nothing started)
 *   POST /api/sites/<site>/restores {choice, confirm}     → 202 {jobId}: the restore wizard's restore
 *   POST /api/sites/<site>/migration-plan {toModel}        → 200 MigrationPlanAnswer (nothing started)
 *   POST /api/sites/<site>/migrations {toModel, confirm}  → 202 {jobId}: `migrate start`
 *   POST /api/sites/<site>/migrations/rollback|finish {confirm} → 202 {jobId}
 *   POST /api/sync/<link>/pause, …/resume   → 200 SyncLinkRow
 * Errors answer `{code, message}` with the status `httpStatus` maps the code to.
 */
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describeError, PermissionDeniedError, toFfkError, UnavailableError, ValidationError, type ErrorCode } from '../../../shared/errors.js';
import type { Logger } from '../../../shared/logger.js';
import type { AuditLog } from '../../domain/access/audit.js';
import type { ConsoleTokens } from '../../domain/access/console-tokens.js';
import type { ConsoleError } from '../../console/protocol.js';
import type { OperatorCaller } from '../guard.js';
import type { ConsoleApi } from './api.js';
import { APP_CSS, INDEX_HTML, webModule } from './assets.js';
import { sessionCookie, SessionStore, type ConsoleSession } from './sessions.js';
import { serveStream } from './stream.js';

export interface ConsoleServerOptions {
  listen: string;
  /** PEM certificate (chain) and key. */
  tls: { cert: Buffer; key: Buffer };
  api: ConsoleApi;
  tokens: ConsoleTokens;
  audit: AuditLog;
  logger: Logger;
}

export interface RunningConsoleServer {
  /** `https://host:port/` (the real port when the config said 0). */
  url: string;
  stop(): Promise<void>;
}

const MAX_BODY = 8 * 1024;

const STATUS: Partial<Record<ErrorCode | 'UNAUTHENTICATED', number>> = {
  UNAUTHENTICATED: 401,
  PERMISSION_DENIED: 403,
  VALIDATION: 400,
  NOT_FOUND: 404,
  CONFLICT: 409,
  ILLEGAL_STATE: 409,
  UNAVAILABLE: 503,
  TIMEOUT: 504,
};

/** The HTTP status of an error code (the one place the console maps them). */
export function httpStatus(code: string): number {
  return STATUS[code as ErrorCode] ?? 500;
}

const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'strict-transport-security': 'max-age=31536000',
};

function send(res: ServerResponse, status: number, body: string, type: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': type, 'cache-control': 'no-store', ...headers }).end(body);
}

const sendJson = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void =>
  send(res, status, JSON.stringify(body), 'application/json; charset=utf-8', headers);

function sendError(res: ServerResponse, err: unknown): void {
  const e = toFfkError(err);
  const body: ConsoleError = { code: e.code, message: describeError(e) };
  sendJson(res, httpStatus(e.code), body);
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  if (!(req.headers['content-type'] ?? '').startsWith('application/json')) throw new ValidationError('the request body must be JSON (content-type: application/json)');
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) throw new ValidationError(`the request body is larger than ${MAX_BODY} bytes`);
    chunks.push(chunk);
  }
  try {
    const v: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
    if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    // answered below
  }
  throw new ValidationError('the request body is not a JSON object');
}

class ConsoleHandler {
  readonly sessions = new SessionStore();

  constructor(private readonly o: ConsoleServerOptions) {}

  handle(req: IncomingMessage, res: ServerResponse): void {
    this.route(req, res).catch((err: unknown) => {
      if (!res.headersSent) sendError(res, err);
      else res.end();
      const e = toFfkError(err);
      if (e.code === 'INTERNAL') this.o.logger.warn({ err, url: req.url }, 'console request failed');
    });
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://console.invalid');
    const p = url.pathname;
    if (req.method === 'GET' && p === '/') return send(res, 200, INDEX_HTML, 'text/html; charset=utf-8');
    if (req.method === 'GET' && p === '/app.css') return send(res, 200, APP_CSS, 'text/css; charset=utf-8');
    if (req.method === 'GET' && p.startsWith('/web/')) {
      const js = await webModule(p.slice('/web/'.length));
      if (js === undefined) return sendJson(res, 404, { code: 'NOT_FOUND', message: `no console module ${p} (is the console built? npm run build)` });
      return send(res, 200, js, 'text/javascript; charset=utf-8');
    }
    if (!p.startsWith('/api/')) return sendJson(res, 404, { code: 'NOT_FOUND', message: `nothing at ${p}` });
    // A write must come from this console's own page: a browser sends Origin with it, and a form of
    // another site cannot send JSON (SameSite=Strict keeps the cookie from other sites too).
    if (req.method !== 'GET' && req.headers.origin !== undefined && req.headers.origin !== `https://${req.headers.host ?? ''}`) {
      throw new PermissionDeniedError(`a request from ${req.headers.origin} is refused: the console accepts writes from its own page only`);
    }
    if (req.method === 'POST' && p === '/api/login') return this.login(req, res);
    const auth = this.sessions.fromCookie(req.headers.cookie);
    if (!auth) return sendJson(res, 401, { code: 'UNAUTHENTICATED', message: 'not logged in, or the session expired: log in with a console token (ffkeeper operators token NAME)' });
    try {
      await this.o.tokens.assertLive(auth.session.tokenId);
    } catch (err) {
      if (!(err instanceof PermissionDeniedError)) throw err;
      this.sessions.close(auth.id);
      return sendJson(res, 401, { code: 'UNAUTHENTICATED', message: err.message }, { 'set-cookie': sessionCookie('', 0) });
    }
    const caller: OperatorCaller = { operator: auth.session.operator, from: `console ${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? '?'}` };
    if (req.method === 'POST' && p === '/api/logout') {
      this.sessions.close(auth.id);
      return sendJson(res, 200, { ok: true }, { 'set-cookie': sessionCookie('', 0) });
    }
    if (req.method === 'GET' && p === '/api/me') return sendJson(res, 200, this.o.api.me(auth.session));
    if (req.method === 'GET' && p === '/api/stream') return this.stream(url, res, caller, auth.session);
    const snap = /^\/api\/sites\/([^/]+)\/snapshots$/.exec(p);
    if (req.method === 'POST' && snap) return sendJson(res, 202, await this.o.api.createSnapshot(caller, decodeURIComponent(snap[1] as string)));
    const verify = /^\/api\/sites\/([^/]+)\/snapshots\/([^/]+)\/verify$/.exec(p);
    if (req.method === 'POST' && verify) return sendJson(res, 202, await this.o.api.verifySnapshot(caller, decodeURIComponent(verify[1] as string), decodeURIComponent(verify[2] as string), await readJson(req)));
    const restore = /^\/api\/sites\/([^/]+)\/(restore-plan|restores)$/.exec(p);
    if (req.method === 'POST' && restore) {
      const [site, body] = [decodeURIComponent(restore[1] as string), await readJson(req)];
      if (restore[2] === 'restore-plan') return sendJson(res, 200, await this.o.api.restorePlan(caller, site, body));
      return sendJson(res, 202, await this.o.api.startRestore(caller, site, body));
    }
    const migration = /^\/api\/sites\/([^/]+)\/(migration-plan|migrations|migrations\/rollback|migrations\/finish)$/.exec(p);
    if (req.method === 'POST' && migration) {
      const [site, body] = [decodeURIComponent(migration[1] as string), await readJson(req)];
      if (migration[2] === 'migration-plan') return sendJson(res, 200, await this.o.api.migrationPlan(caller, site, body));
      if (migration[2] === 'migrations') return sendJson(res, 202, await this.o.api.startMigration(caller, site, body));
      return sendJson(res, 202, await this.o.api.endMigration(caller, site, migration[2] === 'migrations/rollback' ? 'rollback' : 'finish', body));
    }
    const pause = /^\/api\/sync\/([^/]+)\/(pause|resume)$/.exec(p);
    if (req.method === 'POST' && pause) return sendJson(res, 200, await this.o.api.setSyncPaused(caller, decodeURIComponent(pause[1] as string), pause[2] === 'pause'));
    return sendJson(res, 404, { code: 'NOT_FOUND', message: `no console API ${req.method ?? ''} ${p}` });
  }

  private async login(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const from = `console ${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? '?'}`;
    const token = (await readJson(req)).token;
    const record = (who: string, outcome: 'ok' | 'denied', err?: unknown): void => {
      const failure = err === undefined ? {} : { code: toFfkError(err).code, message: describeError(err) };
      this.o.audit
        .append({ at: new Date().toISOString(), who, from, method: 'consoleLogin', sites: [], args: {}, outcome, ...failure })
        .catch((e: unknown) => this.o.logger.error({ err: e }, 'could not record a console login in the audit trail'));
    };
    let login;
    try {
      if (typeof token !== 'string' || token === '') throw new ValidationError('give the console token: {"token": "ffc1.…"}', { field: 'token' });
      login = await this.o.tokens.check(token);
    } catch (err) {
      if (err instanceof PermissionDeniedError) record('unauthenticated', 'denied', err);
      throw err;
    }
    const session: ConsoleSession = { operator: login.operator, tokenId: login.tokenId, expiresAt: login.expiresAt };
    const id = this.sessions.open(session);
    record(`operator ${login.operator}`, 'ok');
    sendJson(res, 200, this.o.api.me(session), { 'set-cookie': sessionCookie(id, (login.expiresAt.getTime() - Date.now()) / 1000) });
  }

  private stream(url: URL, res: ServerResponse, caller: OperatorCaller, session: ConsoleSession): void {
    const view = url.searchParams.get('view') ?? 'fleet';
    const site = url.searchParams.get('site') ?? '';
    const id = url.searchParams.get('id') ?? '';
    const views = {
      fleet: () => this.o.api.fleet(caller),
      site: () => this.o.api.site(caller, site),
      job: () => this.o.api.job(caller, id),
      sync: () => this.o.api.syncLinks(caller),
      link: () => this.o.api.syncLink(caller, id),
    };
    if (!Object.hasOwn(views, view)) throw new ValidationError(`view '${view}' is not one of ${Object.keys(views).join(', ')}`, { field: 'view' });
    const viewOf = views[view as keyof typeof views];
    // A revoked token ends the stream at its next update (a PermissionDeniedError does).
    const compute = async (): Promise<Awaited<ReturnType<typeof viewOf>>> => {
      await this.o.tokens.assertLive(session.tokenId);
      return viewOf();
    };
    serveStream(res, { compute, expiresAt: session.expiresAt, logger: this.o.logger });
  }
}

/** Serves the console on `listen` (port 0: any free port). */
export async function startConsoleServer(o: ConsoleServerOptions): Promise<RunningConsoleServer> {
  const handler = new ConsoleHandler(o);
  const server = https.createServer({ cert: o.tls.cert, key: o.tls.key, minVersion: 'TLSv1.2' }, (req, res) => handler.handle(req, res));
  // Node closes an idle kept-alive connection after 5 s by default: a browser sending its next request on
  // it at that moment gets ECONNRESET (seen in a loaded test run). Browsers keep idle connections longer.
  server.keepAliveTimeout = 65_000;
  const i = o.listen.lastIndexOf(':');
  const host = o.listen.slice(0, i);
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new UnavailableError(`the web console cannot listen on ${o.listen}: ${err.message}`, { cause: err })));
    server.listen(Number(o.listen.slice(i + 1)), host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const url = `https://${host.includes(':') ? `[${host}]` : host}:${port}/`;
  o.logger.info({ console: url }, `web console listening on ${url}`);
  return {
    url,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
