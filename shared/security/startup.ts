/**
 * A process's security at start-up: its TLS files checked (present, key 0600, signed by the CA, current)
 * and its certificate's identity matched against who the config says it is — or, with `insecure: true`,
 * a loud warning on every start.
 */
import { ValidationError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { GrpcSecurity } from '../transport/grpc-security.js';
import { formatIdentity, sameIdentity, type PeerIdentity } from './identity.js';
import { checkTlsFiles, type TlsFiles } from './tls-files.js';

export const INSECURE_WARNING = 'INSECURE: gRPC without TLS — anyone who reaches this port can drive it; for a lab only (insecure: true)';

export function securityAtStart(cfg: { tls?: TlsFiles | undefined; insecure: boolean }, self: PeerIdentity, log: Logger): GrpcSecurity {
  if (!cfg.tls) {
    log.warn({ insecure: true }, INSECURE_WARNING);
    process.stderr.write(`WARNING: ${formatIdentity(self)}: ${INSECURE_WARNING}\n`);
    return { insecure: true };
  }
  const identity = checkTlsFiles(cfg.tls);
  if (!sameIdentity(identity, self)) {
    throw new ValidationError(`tls.cert: ${cfg.tls.cert} is the certificate of ${formatIdentity(identity)}, but this is ${formatIdentity(self)}`, { field: 'tls.cert' });
  }
  return { tls: cfg.tls };
}
