/**
 * `ffkeeper operators revoke NAME`: an operator's certificates refused from now on (admin).
 * `ffkeeper operators token NAME [--ttl 12h]`: a web console login token for the operator (admin).
 */
import { checkOperatorName } from '../../../shared/security/identity.js';
import type { ControllerApi } from '../api.js';
import { toJson } from '../format.js';
import { parseTtl } from './agents.js';
import type { CliIo } from '../io.js';

export async function runOperatorsRevoke(opts: { name: string; json: boolean }, deps: { api: ControllerApi; io: CliIo }): Promise<void> {
  checkOperatorName(opts.name);
  const r = await deps.api.revokeOperator(opts.name);
  if (opts.json) {
    deps.io.out(toJson({ name: opts.name, ...r }));
    return;
  }
  deps.io.out(
    `operator ${opts.name} revoked: ${r.certificates} certificate(s) refused from now on (every call it makes is denied), ${r.consoleTokens} console token(s) removed (its open console pages end); ` +
      `issue a new certificate to bring it back (ffkeeper ca issue --operator ${opts.name})`,
  );
}

export async function runOperatorsToken(opts: { name: string; ttl: string; json: boolean }, deps: { api: ControllerApi; io: CliIo }): Promise<void> {
  checkOperatorName(opts.name);
  const t = await deps.api.createConsoleToken(opts.name, parseTtl(opts.ttl));
  if (opts.json) {
    deps.io.out(toJson({ name: opts.name, tokenId: t.tokenId, token: t.token, expiresAt: t.expiresAt }));
    return;
  }
  deps.io.out(
    [
      `console token ${t.tokenId} for operator ${opts.name}: good until ${t.expiresAt.toISOString()} (its role is the one in access.operators)`,
      '',
      `  ${t.token}`,
      '',
      'paste it into the web console\'s login form (console.listen of the controller config); it is shown only now',
    ].join('\n'),
  );
}
