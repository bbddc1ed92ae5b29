/**
 * The bench's REST backend: `rclone serve restic` over TLS on loopback (test/harness/rest-server.ts), its
 * append-only endpoint — where agents write — used by the agent and by restic alone alike.
 */
import { startRestServer, type RestServer } from '../../test/harness/rest-server.js';
import type { RepoPlace } from './commands.js';

export async function restPlace(): Promise<{ place: RepoPlace; server: RestServer }> {
  const server = await startRestServer();
  const place: RepoPlace = {
    label: 'REST (rclone serve restic --append-only, TLS, loopback)',
    url: (name) => server.url(name, 'agent'),
    dir: (name) => `${server.dir}/${name}`,
    ca: { file: server.caFile, pem: server.caPem },
  };
  return { place, server };
}
