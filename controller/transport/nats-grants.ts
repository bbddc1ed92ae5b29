/**
 * The sync read grants kept in the fleet's NATS registry (shared/security/nats-users.ts): when the links
 * change, every registered nats-server gets its configuration rewritten and reloaded (only when the grants
 * actually changed: a second link between the same two sites reloads nothing).
 */
import { setSyncReadGrants } from '../../shared/security/nats-users.js';
import type { SyncGrantsPort } from '../domain/sync/service.js';

export function natsSyncGrants(registryDir: string): SyncGrantsPort {
  return {
    async apply(reads) {
      await setSyncReadGrants(registryDir, reads);
    },
  };
}
