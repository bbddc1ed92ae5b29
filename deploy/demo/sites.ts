/** The agents the demo starts: two sites, FindFace's component layout with the default paths. */
import type { z } from 'zod';
import type { agentConfigSchema } from '../../shared/config/agent.js';

type AgentInput = z.input<typeof agentConfigSchema> & { site: string; host: string };

export function demoAgents(natsUrl: string): AgentInput[] {
  const base = (site: string, host: string): AgentInput => ({
    site,
    host,
    grpc: { listen: '127.0.0.1:0' },
    nats: { servers: [natsUrl] },
    presence: { heartbeatSeconds: 1, ttlSeconds: 3 },
  });
  const shard = (n: number) => ({
    kind: 'tarantool' as const,
    name: `shard-00${n}`,
    port: 32000 + n,
    httpPort: 8100 + n,
    memtxDir: `/opt/ntech/var/lib/tarantool/shard-00${n}/snapshots`,
    walDir: `/opt/ntech/var/lib/tarantool/shard-00${n}/xlogs`,
    unit: `tarantool@shard-00${n}`,
  });
  const out: AgentInput[] = [];
  for (const site of ['msk-1', 'spb-1']) {
    out.push({ ...base(site, 'db'), components: [{ kind: 'postgres' }] });
    out.push({ ...base(site, 'tnt'), components: [shard(1), shard(2), { kind: 'sf-api' }] });
    out.push({ ...base(site, 'files'), components: [{ kind: 'uploads' }] });
  }
  return out;
}
