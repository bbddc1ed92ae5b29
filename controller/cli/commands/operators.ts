/** `ffkeeper operators revoke NAME`: an operator's certificates refused from now on (admin). */
import { checkOperatorName } from '../../../shared/security/identity.js';
import type { ControllerApi } from '../api.js';
import { toJson } from '../format.js';
import type { CliIo } from '../io.js';

export async function runOperatorsRevoke(opts: { name: string; json: boolean }, deps: { api: ControllerApi; io: CliIo }): Promise<void> {
  checkOperatorName(opts.name);
  const r = await deps.api.revokeOperator(opts.name);
  if (opts.json) {
    deps.io.out(toJson({ name: opts.name, ...r }));
    return;
  }
  deps.io.out(`operator ${opts.name} revoked: ${r.certificates} certificate(s) refused from now on (every call it makes is denied); issue a new certificate to bring it back (ffkeeper ca issue --operator ${opts.name})`);
}
