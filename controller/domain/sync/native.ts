/**
 * `sync link --mode native`: FindFace's own master/slave sync (reference 002), driven from the
 * controller through the agent that runs each site's findface-security (shared/sync/native.ts). The
 * master keeps (or gets) a SYNC_TOKEN and must have an EXTERNAL_ADDRESS; the slave gets the same token,
 * the master's address and the SYNC_TIME; then the link is POSTed to the slave. FindFace syncs the
 * replica nightly at SYNC_TIME; the link's view reports the last run the slave's findface-security
 * recorded. Unlinking DELETEs the replica on the slave; its content stays.
 */
import { IllegalStateError, UnavailableError } from '../../../shared/errors.js';
import type { AgentEntry } from '../../../shared/fleet.js';
import type { CallDeadline } from '../ports.js';
import { formatEnd, type NativeLinkInfo, type SyncLink } from '../../../shared/sync/link.js';
import { FINDFACE_SECURITY_ROLE, type NativeReplica, type NativeSyncRequest, type NativeSyncResult } from '../../../shared/sync/native.js';
import type { SyncTime } from '../../../shared/findface/config-py.js';
import { ms, type SyncLinkView } from './view.js';

/** Calls the agent of `site` that runs findface-security (role `findface-security`). */
export interface NativeSyncPort {
  call(site: string, request: NativeSyncRequest, operation: string): Promise<NativeSyncResult>;
}

/** `at` (HH:MM in `fromZone`) as the wall-clock time of `toZone` on the day of `now`. */
export function clockIn(at: string, fromZone: string, toZone: string, now: Date): SyncTime {
  const [h, m] = at.split(':').map(Number) as [number, number];
  const parts = (date: Date, zone: string): Record<string, number> =>
    Object.fromEntries(
      new Intl.DateTimeFormat('en-GB', { timeZone: zone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric' })
        .formatToParts(date)
        .filter((p) => p.type !== 'literal')
        .map((p) => [p.type, Number(p.value)]),
    );
  const day = parts(now, fromZone);
  // The instant whose wall clock in fromZone reads day h:m: guess it as UTC, then correct by the zone's offset.
  const guess = Date.UTC(day.year as number, (day.month as number) - 1, day.day as number, h, m);
  const offsetAt = (t: number): number => {
    const seen = parts(new Date(t), fromZone);
    return Date.UTC(seen.year as number, (seen.month as number) - 1, seen.day as number, seen.hour as number, seen.minute as number) - t;
  };
  // Twice: the offset at the first estimate may differ from the offset at the answer on a DST-change day.
  const first = guess - offsetAt(guess);
  const target = parts(new Date(guess - offsetAt(first)), toZone);
  return { hour: target.hour as number, minute: target.minute as number };
}

/** Configures both findface-security services and POSTs the link to the slave. */
export async function linkNative(port: NativeSyncPort, link: Pick<SyncLink, 'id' | 'from' | 'to' | 'at' | 'timezone'>, now: Date): Promise<NativeLinkInfo> {
  const [masterSettings, slaveSettings] = await Promise.all([
    port.call(link.from.site, { op: 'settings' }, `findface-security settings of site '${link.from.site}'`),
    port.call(link.to.site, { op: 'settings' }, `findface-security settings of site '${link.to.site}'`),
  ]);
  const zoneOf = (r: NativeSyncResult): string => r.settings?.timeZone ?? 'UTC';
  const masterTime = clockIn(link.at, link.timezone, zoneOf(masterSettings), now);
  const syncTime = clockIn(link.at, link.timezone, zoneOf(slaveSettings), now);
  const master = await port.call(link.from.site, { op: 'master', syncTime: masterTime }, `make site '${link.from.site}' a sync master`);
  const remoteUrl = master.settings?.externalAddress;
  if (!master.token || !remoteUrl) throw new IllegalStateError(`site '${link.from.site}' answered without its SYNC_TOKEN or EXTERNAL_ADDRESS`);
  await port.call(link.to.site, { op: 'slave', syncTime, token: master.token, externalAddress: remoteUrl }, `make site '${link.to.site}' a sync slave`);
  const created = await port.call(link.to.site, { op: 'link', remoteList: link.from.list, remoteUrl, slaveList: link.to.list }, `POST /sync/dossier-lists/ on site '${link.to.site}'`);
  if (!created.replica) throw new IllegalStateError(`site '${link.to.site}' did not answer the replica it created for link '${link.id}'`);
  return { remoteUrl, replicaId: created.replica.id, syncTime };
}

/** DELETEs the replica on the slave; false when it was already gone. */
export async function unlinkNative(port: NativeSyncPort, link: SyncLink): Promise<boolean> {
  const r = await port.call(link.to.site, { op: 'unlink', slaveList: link.to.list }, `DELETE /sync/dossier-lists/${link.to.list}/ on site '${link.to.site}'`);
  return r.removed === true;
}

/** The slave's replica of the link, or why it could not be read. */
export async function replicaOf(port: NativeSyncPort, link: SyncLink): Promise<{ replica?: NativeReplica; error?: string }> {
  try {
    const r = await port.call(link.to.site, { op: 'replicas' }, `replicas of site '${link.to.site}'`);
    const replica = r.replicas?.find((x) => x.slaveList === link.to.list);
    if (!replica) return { error: `findface-security of site '${link.to.site}' holds no replica of list ${link.to.list} (removed outside ffkeeper?)` };
    return { replica };
  } catch (err) {
    return { error: (err as Error).message };
  }
}


/** The view of a native link from the slave's replica (its last nightly run). Pure. */
export function nativeLinkView(link: SyncLink, seen: { replica?: NativeReplica; error?: string }, now: Date): SyncLinkView {
  const run = seen.replica?.lastRun;
  const error = seen.error ?? (run?.status === 'failed' ? `the nightly run of ${formatEnd(link.from)} → ${formatEnd(link.to)} at ${run.startedAt} failed: ${run.error ?? 'no reason given'}` : undefined);
  // The replica is as old as the start of its last good run (FindFace replaces the list nightly).
  const since = run?.status === 'ok' ? ms(run.startedAt) : ms(link.createdAt);
  return {
    ...link,
    state: error ? 'error' : run ? 'running' : 'waiting',
    lagSeconds: Math.max(0, (now.getTime() - (since ?? now.getTime())) / 1000),
    pending: 0,
    appliedTotal: run?.status === 'ok' ? (run.dossiers ?? 0) : 0,
    errors: run?.status === 'failed' ? 1 : 0,
    ...(run?.finishedAt ? { lastAppliedAt: run.finishedAt } : {}),
    ...(error ? { lastError: error } : {}),
    resyncs: 0,
    parts: [],
    ...(seen.replica ? { nativeReplica: seen.replica } : {}),
  };
}

/** The agent call the port needs (controller/transport/grpc-agent-client.ts implements it). */
export interface NativeSyncClient {
  nativeSync(address: string, request: NativeSyncRequest, options: CallDeadline): Promise<NativeSyncResult>;
}

/** findface-security may restart when its config changes: these calls get its start-up time too. */
const RESTARTING_OPS = new Set<NativeSyncRequest['op']>(['master', 'slave']);
const RESTART_DEADLINE_MS = 180_000;

/** The port over the agents: the site's online agent with the `findface-security` role. */
export function agentNativeSyncPort(deps: { client: NativeSyncClient; agentsOf: (site: string) => AgentEntry[]; timeoutMs: number }): NativeSyncPort {
  return {
    call(site, request, operation) {
      const found = deps.agentsOf(site).filter((a) => a.description.roles.includes(FINDFACE_SECURITY_ROLE));
      const online = found.find((a) => a.status === 'online');
      if (!online) {
        throw new UnavailableError(found.length === 0
          ? `site '${site}' has no agent running findface-security (an agent with findfaceSecurity in its config); ${operation} needs one`
          : `${operation} needs agent ${site}/${found[0]?.description.host} (findface-security), which is offline`);
      }
      const timeoutMs = RESTARTING_OPS.has(request.op) ? Math.max(deps.timeoutMs, RESTART_DEADLINE_MS) : deps.timeoutMs;
      return deps.client.nativeSync(online.description.grpcAddress, request, { timeoutMs, operation });
    },
  };
}
