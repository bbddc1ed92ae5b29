/**
 * Every call to the controller passes here before it runs: the caller's identity from its certificate,
 * its role checked (controller/domain/access/policy.ts), and — for mutating calls and every denied one —
 * a record appended to the audit trail with the outcome once the call is over (a streamed job when its
 * stream ends). With `insecure: true` there is no identity: calls run as `insecure` with every right,
 * and are still recorded.
 */
import type { ServiceDefinition, ServiceError, UntypedServiceImplementation } from '@grpc/grpc-js';
import { FfkError, isErrorCode, PermissionDeniedError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import { formatIdentity } from '../../shared/security/identity.js';
import { toServiceError } from '../../shared/transport/grpc-errors.js';
import { peerIdentityOf, refuseCall, wrapMethods, type GrpcSecurity, type MethodHandler, type ServerCall, type UnaryCallback } from '../../shared/transport/grpc-security.js';
import { auditArgs, type AuditLog, type AuditOutcome } from '../domain/access/audit.js';
import { authorizeCall, METHOD_POLICIES, type AccessConfig } from '../domain/access/policy.js';

export interface GuardDeps {
  security: GrpcSecurity;
  access: AccessConfig;
  audit: AuditLog;
  logger: Logger;
  /** Whether a certificate serial is revoked (the fleet CA's list; absent: no CA on this host). */
  isRevoked?: (serial: string | undefined) => boolean;
}

type RecordOutcome = (outcome: AuditOutcome, err?: unknown) => void;

function errorFields(err: unknown): { code: string; message: string } {
  if (err instanceof FfkError) return { code: err.code, message: err.message };
  const se = err as Partial<ServiceError> | undefined;
  const carried = se?.metadata?.get('ffk-code')[0];
  return { code: typeof carried === 'string' ? carried : String(se?.code ?? 'INTERNAL'), message: se?.details ?? (err as Error | undefined)?.message ?? String(err) };
}

/** Throws the PermissionDeniedError that refuses the call, if it is refused. */
function authorize(deps: GuardDeps, call: ServerCall, method: string, req: Record<string, unknown>): void {
  if ('insecure' in deps.security) return;
  const peer = peerIdentityOf(call);
  if (deps.isRevoked?.(call.getAuthContext?.()?.sslPeerCertificate?.serialNumber)) {
    throw new PermissionDeniedError(`controller: ${method} refused: the certificate of ${peer ? formatIdentity(peer) : 'the caller'} is revoked`);
  }
  if (peer?.kind !== 'operator') throw new PermissionDeniedError(`controller: ${method} refused: ${peer ? `${formatIdentity(peer)} is not an operator` : 'the client certificate carries no ffkeeper identity'}`);
  authorizeCall(deps.access, peer.name, method, req);
}

/**
 * Records a streamed call's outcome once it is over: its error, or else — a job's stream ends normally
 * whatever the job's outcome — the failure its outcome event reports.
 */
function recordWhenStreamEnds(call: ServerCall, record: RecordOutcome): void {
  const [end, emit, write] = [call.end?.bind(call), call.emit?.bind(call), call.write?.bind(call)];
  let done = false;
  let jobFailed: FfkError | undefined;
  call.write = (chunk: unknown, ...rest: unknown[]) => {
    const detail = (chunk as { detail?: { $case?: string; value?: { errorCode?: string; errorMessage?: string } } } | undefined)?.detail;
    const code = detail?.$case === 'outcome' ? detail.value?.errorCode : undefined;
    if (code) jobFailed = new FfkError(isErrorCode(code) ? code : 'INTERNAL', detail?.value?.errorMessage ?? '');
    return write?.(chunk, ...rest);
  };
  call.end = (...args: unknown[]) => {
    if (!done) record(jobFailed ? 'failed' : 'ok', jobFailed);
    done = true;
    return end?.(...args);
  };
  call.emit = (event: string | symbol, ...args: unknown[]) => {
    if (event === 'error' && !done) record('failed', args[0]);
    if (event === 'error') done = true;
    return emit ? emit(event, ...args) : false;
  };
}

/** Appends a call's audit record (who, from where, what, which sites, its arguments without secrets) with its outcome. */
function auditRecorder(deps: Pick<GuardDeps, 'audit' | 'logger'>, c: { who: string; from: string; method: string; req: Record<string, unknown> }): RecordOutcome {
  const { who, from, method, req } = c;
  return (outcome, err) => {
    deps.audit
      .append({ at: new Date().toISOString(), who, from, method, sites: METHOD_POLICIES[method]?.sites(req) ?? [], args: auditArgs(req), outcome, ...(err === undefined ? {} : errorFields(err)) })
      .catch((e: unknown) => deps.logger.error({ err: e, method, who }, 'audit record not stored'));
  };
}

/** Rows of a listing's answer, and the sites each row concerns. */
type SiteScope = (res: Record<string, unknown>, allowed: (sites: readonly string[]) => boolean) => Record<string, unknown>;
const rowsOf = (res: Record<string, unknown>, field: string): Record<string, unknown>[] => (Array.isArray(res[field]) ? (res[field] as Record<string, unknown>[]) : []);
const keep = (field: string, sitesOf: (row: Record<string, unknown>) => string[]): SiteScope => (res, allowed) => ({ ...res, [field]: rowsOf(res, field).filter((row) => allowed(sitesOf(row))) });

/**
 * Listings that answer rows of every site when no site is asked for. For an operator limited to some
 * sites (`access.operators.<name>.sites`) the answer keeps only the rows of those sites (a sync link: both
 * of its sites; an audit record: every site it names, and none for a record of no site).
 */
export const SITE_SCOPED_LISTINGS: Record<string, SiteScope> = {
  listSites: keep('sites', (r) => [String(r.site)]),
  listAgents: keep('agents', (r) => [String((r.description as { site?: unknown } | undefined)?.site)]),
  listJobs: keep('jobs', (r) => [String(r.site)]),
  listSchedules: keep('schedules', (r) => [String(r.site)]),
  listSyncLinks: keep('links', (r) => [String(r.fromSite), String(r.toSite)]),
  listAudit: (res, allowed) => {
    const entries = JSON.parse(typeof res.entriesJson === 'string' && res.entriesJson !== '' ? res.entriesJson : '[]') as { sites?: string[] }[];
    return { ...res, entriesJson: JSON.stringify(entries.filter((e) => (e.sites ?? []).length > 0 && allowed(e.sites ?? []))) };
  },
};

/** The answer of a listing as an operator limited to some sites may see it (unchanged for any other call or caller). */
export function scopeToGrant(access: AccessConfig, operator: string | undefined, method: string, res: unknown): unknown {
  const scope = SITE_SCOPED_LISTINGS[method];
  const sites = operator === undefined ? undefined : access.operators[operator]?.sites;
  if (!scope || !sites || typeof res !== 'object' || res === null) return res;
  return scope(res as Record<string, unknown>, (rowSites) => rowSites.every((s) => sites.includes(s)));
}

/**
 * Calls that answer about one object found by its id alone (a job; a snapshot looked up in every site), and
 * the site each answer (or each event of a watched job) belongs to: an operator limited to some sites gets
 * a refusal instead of another site's object.
 */
export const SITE_SCOPED_ANSWERS: Record<string, (res: Record<string, unknown>) => string | undefined> = {
  getJob: (r) => (typeof r.site === 'string' ? r.site : undefined),
  getSnapshot: (r) => {
    const site = (r.summary as { site?: unknown } | undefined)?.site;
    return typeof site === 'string' ? site : undefined;
  },
  watchJob: (r) => (typeof r.site === 'string' && r.site !== '' ? r.site : undefined),
};

/** The refusal of an answer about another site's object for an operator limited to some sites; undefined when it may see it. */
export function answerRefusal(access: AccessConfig, operator: string | undefined, method: string, res: unknown): PermissionDeniedError | undefined {
  const siteOf = SITE_SCOPED_ANSWERS[method];
  const grant = operator === undefined ? undefined : access.operators[operator];
  if (!siteOf || !grant?.sites || typeof res !== 'object' || res === null) return undefined;
  const site = siteOf(res as Record<string, unknown>);
  if (site === undefined || grant.sites.includes(site)) return undefined;
  return new PermissionDeniedError(`operator ${operator ?? ''} (${grant.role} of ${grant.sites.join(', ')}) may not call ${method} for site '${site}'`);
}

/** A watched job's events pass only while they belong to the operator's sites; the first that does not ends the stream with the refusal. */
function refuseOtherSitesEvents(deps: GuardDeps, call: ServerCall, method: string, operator: string, record: RecordOutcome): void {
  const write = call.write?.bind(call);
  let refused = false;
  call.write = (chunk: unknown, ...rest: unknown[]) => {
    if (refused) return false;
    const err = answerRefusal(deps.access, operator, method, chunk);
    if (!err) return write?.(chunk, ...rest);
    refused = true;
    record('denied', err);
    call.emit?.('error', toServiceError(err));
    return false;
  };
}

function guardMethod(deps: GuardDeps, method: string, streaming: boolean, handler: MethodHandler): MethodHandler {
  const policy = METHOD_POLICIES[method];
  return (call: ServerCall, callback?: UnaryCallback) => {
    const req = (call.request ?? {}) as Record<string, unknown>;
    const peer = peerIdentityOf(call);
    const who = 'insecure' in deps.security ? 'insecure' : peer ? formatIdentity(peer) : 'unauthenticated';
    const record = auditRecorder(deps, { who, from: call.getPeer?.() ?? '', method, req });
    try {
      authorize(deps, call, method, req);
    } catch (err) {
      record('denied', err);
      refuseCall(call, callback, streaming, err);
      return;
    }
    if (!policy?.mutating) {
      const operator = peer?.kind === 'operator' && !('insecure' in deps.security) ? peer.name : undefined;
      if (operator !== undefined && SITE_SCOPED_ANSWERS[method]) {
        if (streaming || !callback) {
          refuseOtherSitesEvents(deps, call, method, operator, record);
          return handler(call, callback);
        }
        return handler(call, (err, res) => {
          const refusal = err ? undefined : answerRefusal(deps.access, operator, method, res);
          if (!refusal) return callback(err, res);
          record('denied', refusal);
          callback(toServiceError(refusal), null);
        });
      }
      if (streaming || !callback || operator === undefined || !SITE_SCOPED_LISTINGS[method]) return handler(call, callback);
      return handler(call, (err, res) => callback(err, err ? res : (scopeToGrant(deps.access, operator, method, res) as typeof res)));
    }
    if (streaming || !callback) {
      recordWhenStreamEnds(call, record);
      return handler(call, callback);
    }
    return handler(call, (err, res) => {
      record(err ? 'failed' : 'ok', err ?? undefined);
      callback(err, res);
    });
  };
}

/** Who makes a call that does not come over gRPC (the web console): an operator, from an address. */
export interface OperatorCaller {
  operator: string;
  /** e.g. `console 10.0.0.5:51234`. */
  from: string;
}

/**
 * A call made on an operator's behalf by another front end (the web console): the same role check
 * (`authorizeCall`) and the same audit records as a gRPC call of `method`. `outcome`, for a call that
 * starts a job, resolves once the job is over with its failure (undefined: it succeeded); the record is
 * written then, as a streamed gRPC call's is when its stream ends. Throws the PermissionDeniedError of a refusal.
 */
export async function guardedCall<T>(
  deps: Pick<GuardDeps, 'access' | 'audit' | 'logger'>,
  caller: OperatorCaller,
  call: { method: string; req: Record<string, unknown>; outcome?: (result: T) => Promise<unknown> },
  run: () => Promise<T>,
): Promise<T> {
  const { method, req } = call;
  const policy = METHOD_POLICIES[method];
  const who = formatIdentity({ kind: 'operator', name: caller.operator });
  const record = auditRecorder(deps, { who, from: caller.from, method, req });
  try {
    authorizeCall(deps.access, caller.operator, method, req);
  } catch (err) {
    record('denied', err);
    throw err;
  }
  if (!policy?.mutating) return run();
  let result: T;
  try {
    result = await run();
  } catch (err) {
    record('failed', err);
    throw err;
  }
  if (!call.outcome) record('ok');
  else call.outcome(result).then((err) => record(err === undefined ? 'ok' : 'failed', err), (err: unknown) => record('failed', err));
  return result;
}

export function controllerGuard(deps: GuardDeps) {
  return <I extends UntypedServiceImplementation>(definition: ServiceDefinition, impl: I): I =>
    wrapMethods(definition, impl, (method, streaming, handler) => guardMethod(deps, method, streaming, handler));
}
