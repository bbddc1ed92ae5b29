/**
 * Issue 19, a clustered NATS, end to end with real processes: the controller and a dev site's agents on a
 * 3-node nats-server cluster (routes authenticated), every ffkeeper stream and bucket with 3 replicas. One
 * node — the one the controller is connected to — is killed during a snapshot, and another between
 * snapshots (one at a time, each started again before the next is killed): every snapshot seals or fails
 * cleanly, no sealed one is lost, the catalog and the jobs stay readable, and presence recovers.
 */
import { jetstreamManager } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FINAL_PHASES } from '../../shared/jobs.js';
import { openControllersBucket } from '../../shared/transport/kv.js';
import { connectNats, type NatsConnection } from '../../shared/transport/nats.js';
import { listAgents, startFleet, type TestFleet } from '../harness/fleet.js';
import type { TestNatsNode } from '../harness/nats.js';
import { waitFor } from '../harness/processes.js';

interface Job {
  id: string;
  phase: string;
  controller?: string;
  error?: { message: string };
  detail: { snapshotId?: string };
}

const SITE = 'ncl-a';
const FINAL: readonly string[] = FINAL_PHASES;

describe('a 3-node NATS cluster (issue 19)', () => {
  let fleet: TestFleet;
  let nc: NatsConnection;

  beforeAll(async () => {
    fleet = await startFleet([{ site: SITE, dossiers: 10, events: 30 }], { natsCluster: 3 });
    nc = await connectNats({ config: { ...fleet.nats.controller(), replicas: 3 }, name: 'test' });
  }, 180_000);

  afterAll(async () => {
    await nc?.close();
    await fleet?.stop();
  });

  /** The node the controller process is connected to (its monitoring endpoint lists the connection). */
  const controllersNode = async (): Promise<TestNatsNode> => {
    const { value } = await waitFor(async () => {
      for (const n of fleet.nats.nodes.filter((x) => x.running())) {
        const connz = (await (await fetch(`http://${n.monitor}/connz?limit=1024`)).json()) as { connections?: { name?: string }[] };
        if (connz.connections?.some((c) => c.name?.startsWith('ffkeeper-controller'))) return n;
      }
      return undefined;
    }, 30_000, 250);
    return value;
  };

  /**
   * Full redundancy again: JetStream's meta group and every stream have a leader and both other peers
   * current — what an operator waits for in a rolling restart before taking the next node down (a node
   * taken down before the restarted one is current in the meta group leaves it without a leader: every
   * consumer creation, KV watch and key listing then times out).
   */
  const replicated = async (): Promise<number> => {
    let last = '';
    const { elapsedMs } = await waitFor(async () => {
      // A node that ended by itself (this test did not kill it) is started again, as its service manager
      // would, and its log is shown: the failure of a run whose monitoring endpoint stayed unreachable.
      for (const n of fleet.nats.nodes.filter((x) => x.running() && !x.alive())) {
        console.log(`${n.name} ended by itself; starting it again. Its log:\n${n.logTail()}`);
        await n.restart();
      }
      // JetStream's meta group (it places consumers: KV watches and key listings need it) ...
      // (every node names the same leader; the leader's own view lists its peers and whether each is current)
      const metas = await Promise.all(
        fleet.nats.nodes.map(async (n) => {
          const jsz = await fetch(`http://${n.monitor}/jsz`).then(
            async (r) => (await r.json()) as { meta_cluster?: { leader?: string; replicas?: { current?: boolean; offline?: boolean }[] } },
            (err: unknown) => {
              last = `${n.name}'s monitoring endpoint ${n.monitor}: ${String(err)} (process ${n.alive() ? 'running' : 'ended'})`;
              throw new Error(last);
            },
          );
          return jsz.meta_cluster;
        }),
      );
      const leaders = new Set(metas.map((m) => m?.leader));
      const current = Math.max(...metas.map((m) => (m?.replicas ?? []).filter((r) => r.current && !r.offline).length));
      last = `meta leaders ${[...leaders].join(', ')}, ${current} current peers`;
      if (leaders.size !== 1 || leaders.has(undefined) || leaders.has('') || current < fleet.nats.nodes.length - 1) return false;
      // ... and every stream.
      const jsm = await jetstreamManager(nc);
      for await (const si of jsm.streams.list()) {
        const c = si.cluster;
        const current = (c?.replicas ?? []).filter((r) => r.current && !r.offline).length;
        last = `${si.config.name}: leader ${c?.leader ?? 'none'}, ${current} current replicas`;
        if (!c?.leader || current < 2) return false;
      }
      return true;
    }, 120_000, 250).catch((err: unknown) => {
      throw new Error(`streams not fully replicated: ${last} (${String(err)})`);
    });
    return elapsedMs;
  };

  /** Agents listed online, with a heartbeat after `since` (ms) when given, within `timeoutMs`. */
  const agentsOnline = async (since = 0, timeoutMs = 60_000): Promise<number> => {
    const { value } = await waitFor(async () => {
      const listed = await listAgents(fleet.controllerAddress);
      const online = listed?.filter((a) => a.status === 'online' && a.lastSeen.getTime() > since).length ?? 0;
      return online === fleet.agents.size ? online : undefined;
    }, timeoutMs, 250).catch(async (err: unknown) => {
      const listed = (await listAgents(fleet.controllerAddress))?.map((a) => `${a.description.host} ${a.status} ${a.lastSeen.toISOString()}`);
      const tail = (text: string): string =>
        text
          .split('\n')
          .filter((l) => /"level":(40|50)/.test(l))
          .slice(-8)
          .map((l) => {
            const j = JSON.parse(l) as { time: number; msg?: string; err?: { message?: string } };
            return `${new Date(j.time).toISOString()} ${j.msg ?? ''} ${j.err?.message ?? ''}`;
          })
          .join('\n');
      for (const n of fleet.nats.nodes.filter((x) => x.running())) {
        const connz = (await (await fetch(`http://${n.monitor}/connz?limit=1024`)).json()) as { connections?: { name?: string }[] };
        const routez = (await (await fetch(`http://${n.monitor}/routez`)).json()) as { num_routes?: number };
        console.log(`${n.name}: routes ${routez.num_routes}, clients ${JSON.stringify(connz.connections?.map((c) => c.name))}`);
      }
      // Is it the cluster, or the controller's connection? A write and a listing from this test's own.
      const probe = async (what: string, call: () => Promise<unknown>): Promise<void> => {
        const t = Date.now();
        const r = await call().then(() => 'ok', (e: unknown) => String(e));
        console.log(`probe ${what}: ${r} in ${Date.now() - t} ms`);
      };
      const fresh = await connectNats({ config: { ...fleet.nats.controller(), replicas: 3 }, name: 'probe' });
      for (const [label, conn] of [['test connection', nc], ['fresh connection', fresh]] as const) {
        const kv = await openControllersBucket(conn);
        await probe(`${label} put ffk_controllers`, () => kv.put('probe', 'x'));
        await probe(`${label} keys ffk_controllers`, async () => { for await (const k of await kv.keys()) void k; });
      }
      await fresh.close();
      const jsz = (await (await fetch(`http://${fleet.nats.nodes.find((x) => x.running())?.monitor}/jsz?streams=true`)).json()) as { meta_cluster?: unknown; account_details?: { stream_detail?: { name: string; cluster?: unknown }[] }[] };
      console.log(`meta ${JSON.stringify(jsz.meta_cluster)}; streams ${JSON.stringify(jsz.account_details?.flatMap((a) => a.stream_detail?.map((d) => [d.name, d.cluster])))}`.slice(0, 3000));
      const agents = [...fleet.agents.entries()].map(([k, a]) => `agent ${k} (exit ${a.child.exitCode ?? '-'} ${a.child.signalCode ?? ''}):\n${tail(a.logs())}\n${a.logs().split('\n').slice(-4).join('\n').slice(0, 1500)}`);
      throw new Error(`agents not all online with a heartbeat since ${new Date(since).toISOString()} (${String(err)}): ${JSON.stringify(listed)}\ncontroller:\n${tail(fleet.controller.logs())}\n${agents.join('\n')}`);
    });
    return value;
  };

  const job = async (id: string): Promise<Job | undefined> => {
    const r = await fleet.cli('jobs', 'show', id, '--json');
    return r.code === 0 ? (JSON.parse(r.stdout) as Job) : undefined;
  };

  it('creates every ffkeeper stream and bucket with 3 replicas', async () => {
    const jsm = await jetstreamManager(nc);
    const replicas: Record<string, number> = {};
    for await (const si of jsm.streams.list()) replicas[si.config.name] = si.config.num_replicas;
    console.log(`streams and their replicas: ${JSON.stringify(replicas)}`);
    for (const name of ['KV_ffk_jobs', 'KV_ffk_catalog', 'KV_ffk_leases', 'KV_ffk_agents', 'KV_ffk_controllers', 'FFK_EVENTS']) expect(replicas[name], name).toBe(3);
    expect(Object.values(replicas).every((r) => r === 3)).toBe(true);
  });

  it('snapshots go on through a node killed during one and another killed between them: each seals or fails cleanly, none is lost', async () => {
    const outcomes: { label: string; job: Job }[] = [];
    const snapshot = async (label: string, during?: () => Promise<void>): Promise<void> => {
      // A lease whose release met a node being killed (its reply lost) is left to expire by itself (the
      // lease TTL): a snapshot refused for the lease of a job that has ended is asked again until then.
      const { value: started } = await waitFor(async () => {
        const r = await fleet.cli('snapshot', 'create', '--site', SITE, '--json');
        const holder = /snapshot job (j-[\w-]+) on \S+ holds site/.exec(r.stderr)?.[1];
        if (r.code !== 0 && holder && FINAL.includes((await job(holder))?.phase ?? 'InProgress')) return undefined;
        return r;
      }, 90_000, 1000);
      expect(started.code, started.stderr).toBe(0);
      const { jobId } = JSON.parse(started.stdout) as { jobId: string };
      if (during) {
        await waitFor(async () => (await job(jobId))?.phase === 'InProgress', 30_000, 100);
        await during();
      }
      const { value } = await waitFor(async () => {
        const j = await job(jobId);
        return j && FINAL.includes(j.phase) ? j : undefined;
      }, 180_000, 500);
      outcomes.push({ label, job: value });
      console.log(`${label}: ${value.id} ${value.phase}${value.error ? `: ${value.error.message}` : ''}`);
    };

    const first = await controllersNode();
    await snapshot(`snapshot 1, ${first.name} (the controller's node) killed during it`, () => first.kill());
    await first.restart();
    console.log(`${first.name} started again: every stream fully replicated ${await replicated()} ms later`);
    expect(await agentsOnline(0, 150_000)).toBe(fleet.agents.size);

    const second = fleet.nats.nodes.find((n) => n !== first) as TestNatsNode;
    await second.kill();
    // Agents connected to it reconnect to another node; their presence (dev sites: 3 s TTL) may lapse
    // while a bucket's leader moves — and nats-server 2.9.10 can stall the clients of a surviving node
    // for about a minute (new connections and the other node's clients are served meanwhile: the probe
    // in agentsOnline's failure shows it). Once each agent has beaten again, a snapshot with the node down seals.
    const killedAt = Date.now();
    expect(await agentsOnline(killedAt, 150_000)).toBe(fleet.agents.size);
    console.log(`${second.name} killed: every agent listed online, with a heartbeat since, ${Date.now() - killedAt} ms later`);
    await snapshot(`snapshot 2, ${second.name} down`);
    await second.restart();
    await replicated();
    await snapshot('snapshot 3, all nodes up');
    expect(await agentsOnline(0, 150_000)).toBe(fleet.agents.size);

    // The catalog and the jobs are readable; every completed job's snapshot is in the catalog, no failed one's is.
    const listed = await fleet.cli('snapshot', 'list', '--site', SITE, '--json');
    expect(listed.code, listed.stderr).toBe(0);
    const catalog = new Set((JSON.parse(listed.stdout) as { id: string }[]).map((s) => s.id));
    const jobs = await fleet.cli('jobs', 'list', '--site', SITE, '--json');
    expect(jobs.code, jobs.stderr).toBe(0);
    const sealed = outcomes.filter((o) => o.job.phase === 'Completed' && catalog.has(o.job.detail.snapshotId ?? ''));
    const failedCleanly = outcomes.filter((o) => o.job.phase !== 'Completed' && !catalog.has(o.job.detail.snapshotId ?? ''));
    const lost = outcomes.length - sealed.length - failedCleanly.length;
    console.log(`snapshots: ${sealed.length} sealed, ${failedCleanly.length} failed cleanly, ${lost} lost; catalog holds ${catalog.size}`);
    expect(lost).toBe(0);
    expect(catalog.size).toBe(sealed.length);
    // With two of three nodes, and with all three, the cluster serves: those snapshots seal.
    expect(outcomes.slice(1).map((o) => o.job.phase)).toEqual(['Completed', 'Completed']);
  }, 420_000);
});
