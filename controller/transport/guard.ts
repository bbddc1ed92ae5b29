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
import { peerIdentityOf, type GrpcSecurity } from '../../shared/transport/grpc-security.js';
import { auditArgs, type AuditLog, type AuditOutcome } from '../domain/access/audit.js';
import { authorizeCall, METHOD_POLICIES, type AccessConfig } from '../domain/access/policy.js';

export interface GuardDeps {
  security: GrpcSecurity;
  access: AccessConfig;
  audit: AuditLog;
  logger: Logger;
}

type Call = Parameters<typeof peerIdentityOf>[0] & {
  request?: unknown;
  getPeer?: () => string;
  end?: (...args: unknown[]) => unknown;
  write?: (chunk: unknown, ...args: unknown[]) => unknown;
  emit?: (event: string | symbol, ...args: unknown[]) => boolean;
};
type Callback = (err: unknown, res: unknown) => void;

function errorFields(err: unknown): { code: string; message: string } {
  if (err instanceof FfkError) return { code: err.code, message: err.message };
  const se = err as Partial<ServiceError> | undefined;
  const carried = se?.metadata?.get('ffk-code')[0];
  return { code: typeof carried === 'string' ? carried : String(se?.code ?? 'INTERNAL'), message: se?.details ?? (err as Error | undefined)?.message ?? String(err) };
}

export function controllerGuard(deps: GuardDeps) {
  return <I extends UntypedServiceImplementation>(definition: ServiceDefinition, impl: I): I => {
    const out: UntypedServiceImplementation = {};
    for (const [method, handler] of Object.entries(impl)) {
      const streaming = definition[method]?.responseStream === true;
      const fn = handler as (call: Call, callback?: Callback) => void;
      out[method] = ((call: Call, callback?: Callback) => {
        const req = (call.request ?? {}) as Record<string, unknown>;
        const peer = peerIdentityOf(call);
        const who = 'insecure' in deps.security ? 'insecure' : peer ? formatIdentity(peer) : 'unauthenticated';
        const policy = METHOD_POLICIES[method];
        const record = (outcome: AuditOutcome, err?: unknown): void => {
          const fields = err === undefined ? {} : errorFields(err);
          deps.audit
            .append({ at: new Date().toISOString(), who, from: call.getPeer?.() ?? '', method, sites: policy?.sites(req) ?? [], args: auditArgs(req), outcome, ...fields })
            .catch((e: unknown) => deps.logger.error({ err: e, method, who }, 'audit record not stored'));
        };
        try {
          if (!('insecure' in deps.security)) {
            if (peer?.kind !== 'operator') throw new PermissionDeniedError(`controller: ${method} refused: ${peer ? `${formatIdentity(peer)} is not an operator` : 'the client certificate carries no ffkeeper identity'}`);
            authorizeCall(deps.access, peer.name, method, req);
          }
        } catch (err) {
          record('denied', err);
          if (streaming || !callback) call.emit?.('error', toServiceError(err));
          else callback(toServiceError(err), null);
          return;
        }
        if (!policy?.mutating) return fn(call, callback);
        if (streaming || !callback) {
          const end = call.end?.bind(call);
          const emit = call.emit?.bind(call);
          const write = call.write?.bind(call);
          let done = false;
          // A job's stream ends normally whatever the job's outcome: the outcome event says how it ended.
          let jobFailed: { code: string; message: string } | undefined;
          call.write = (chunk: unknown, ...rest: unknown[]) => {
            const outcome = (chunk as { detail?: { $case?: string; value?: { errorCode?: string; errorMessage?: string } } } | undefined)?.detail;
            if (outcome?.$case === 'outcome' && outcome.value?.errorCode) jobFailed = { code: outcome.value.errorCode, message: outcome.value.errorMessage ?? '' };
            return write?.(chunk, ...rest);
          };
          call.end = (...args: unknown[]) => {
            if (!done) record(jobFailed ? 'failed' : 'ok', jobFailed ? new FfkError(isErrorCode(jobFailed.code) ? jobFailed.code : 'INTERNAL', jobFailed.message) : undefined);
            done = true;
            return end?.(...args);
          };
          call.emit = (event: string | symbol, ...args: unknown[]) => {
            if (event === 'error' && !done) record('failed', args[0]);
            if (event === 'error') done = true;
            return emit ? emit(event, ...args) : false;
          };
          return fn(call, callback);
        }
        return fn(call, (err, res) => {
          record(err ? 'failed' : 'ok', err ?? undefined);
          callback(err, res);
        });
      }) as never;
    }
    return out as I;
  };
}
