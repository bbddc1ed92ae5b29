/** `ffkeeper agents list [--site S]`, `agents show SITE/HOST`, `agents enrol --site S --host H [--ttl 1h]`, `agents revoke SITE/HOST`. */
import { ValidationError } from '../../../shared/errors.js';
import { componentRef, type AgentDescription, type AgentEntry, type ComponentInfo } from '../../../shared/fleet.js';
import { isValidId } from '../../../shared/ids.js';
import type { ControllerApi } from '../api.js';
import { ago, renderTable, toJson } from '../format.js';
import type { CliIo } from '../io.js';

interface Deps {
  api: ControllerApi;
  io: CliIo;
}

export interface AgentsListOptions {
  site?: string;
  json: boolean;
}

function entryJson(e: AgentEntry): Record<string, unknown> {
  return { ...e.description, status: e.status, lastSeen: e.lastSeen };
}

export async function runAgentsList(opts: AgentsListOptions, deps: Deps): Promise<void> {
  if (opts.site !== undefined && !isValidId(opts.site)) {
    throw new ValidationError(`--site '${opts.site}' is not a valid site id`, { field: 'site' });
  }
  const agents = await deps.api.listAgents(opts.site);
  if (opts.json) {
    deps.io.out(toJson(agents.map(entryJson)));
    return;
  }
  if (agents.length === 0) {
    deps.io.out(opts.site ? `no agents known for site '${opts.site}'` : 'no agents known to this controller');
    return;
  }
  const now = deps.io.now();
  const rows = agents.map((e) => [
    e.description.site,
    e.description.host,
    e.status,
    ago(e.lastSeen, now),
    e.description.components.map(componentRef).join(','),
    e.description.grpcAddress,
    e.description.version,
  ]);
  deps.io.out(renderTable(['SITE', 'HOST', 'STATUS', 'LAST SEEN', 'COMPONENTS', 'ADDRESS', 'VERSION'], rows));
}

export interface AgentsShowOptions {
  /** `SITE/HOST` as typed. */
  agent: string;
  json: boolean;
}

/** Parses `SITE/HOST`, naming what is wrong. */
export function parseAgentRef(ref: string): { site: string; host: string } {
  const parts = ref.split('/');
  const [site, host] = parts;
  if (parts.length !== 2 || !site || !host || !isValidId(site) || !isValidId(host)) {
    throw new ValidationError(`agent '${ref}' must be written SITE/HOST, e.g. msk-1/db`, { field: 'agent' });
  }
  return { site, host };
}

function componentLines(c: ComponentInfo): string {
  switch (c.kind) {
    case 'postgres':
      return `database ${c.database} at ${c.host}:${c.port}, pgbouncer ${c.pgbouncerAddress}, units ${c.appUnit}, ${c.pgbouncerUnit}`;
    case 'tarantool':
      return `${c.host}:${c.port}${c.httpPort ? ` (http ${c.httpPort})` : ''}, memtx ${c.memtxDir}, wal ${c.walDir}, unit ${c.unit}`;
    case 'uploads':
      return c.paths.join(', ');
    case 'sf-api':
      return `config ${c.configPath}, unit ${c.unit}`;
  }
}

function describeLines(d: AgentDescription): string[] {
  return [
    `version:    ${d.version}`,
    `address:    ${d.grpcAddress}`,
    `hostname:   ${d.hostname} (pid ${d.pid})`,
    `started:    ${d.startedAt.toISOString()}`,
    `heartbeat:  every ${d.heartbeatSeconds}s, offline after ${d.presenceTtlSeconds}s`,
    `components:`,
    ...d.components.map((c) => `  ${componentRef(c).padEnd(24)} ${componentLines(c)}`),
  ];
}

export async function runAgentsShow(opts: AgentsShowOptions, deps: Deps): Promise<void> {
  const { site, host } = parseAgentRef(opts.agent);
  const details = await deps.api.getAgent(site, host);
  if (opts.json) {
    deps.io.out(toJson({ ...entryJson(details.entry), live: details.live ?? null, liveError: details.liveError ?? null }));
    return;
  }
  const { entry } = details;
  const lines = [
    `agent ${site}/${host}: ${entry.status}, last seen ${ago(entry.lastSeen, deps.io.now())}`,
    ...describeLines(details.live ?? entry.description),
    details.live ? 'live:       answered Describe' : `live:       not reachable — ${details.liveError ?? 'unknown reason'}`,
  ];
  deps.io.out(lines.join('\n'));
}

/** `SITE/HOST` → its parts; a ValidationError names a malformed reference. */
function agentRef(ref: string): { site: string; host: string } {
  const [site, host, ...rest] = ref.split('/');
  if (!site || !host || rest.length > 0 || !isValidId(site) || !isValidId(host)) throw new ValidationError(`'${ref}' must be SITE/HOST, e.g. msk-1/db`, { field: 'agent' });
  return { site, host };
}

/** `1h`, `30m`, `90s`, `2d` → seconds (1 s to 7 days). */
export function parseTtl(text: string): number {
  const m = /^(\d+)([smhd])$/.exec(text.trim());
  const seconds = m ? Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86_400 }[m[2] as 's' | 'm' | 'h' | 'd'] : NaN;
  if (!Number.isFinite(seconds) || seconds < 1 || seconds > 7 * 86_400) throw new ValidationError(`--ttl '${text}' must be a duration like 30m, 1h or 2d (at most 7d)`, { field: 'ttl' });
  return seconds;
}

export interface AgentsEnrolOptions {
  site: string;
  host: string;
  ttl: string;
  json: boolean;
}

export async function runAgentsEnrol(opts: AgentsEnrolOptions, deps: Deps): Promise<void> {
  const { site, host } = agentRef(`${opts.site}/${opts.host}`);
  const t = await deps.api.createJoinToken(site, host, parseTtl(opts.ttl));
  if (opts.json) {
    deps.io.out(toJson({ site, host, tokenId: t.tokenId, token: t.token, expiresAt: t.expiresAt, enrolmentAddress: t.enrolmentAddress }));
    return;
  }
  deps.io.out(
    [
      `join token ${t.tokenId} for agent ${site}/${host}: good once, until ${t.expiresAt.toISOString()}`,
      '',
      `  ${t.token}`,
      '',
      `on ${host}, as root (the token read from the environment, not from the command line):`,
      `  FFKEEPER_JOIN_TOKEN='<token>' ffkeeper-agent enrol --controller ${t.enrolmentAddress} --out /etc/ffkeeper/tls`,
    ].join('\n'),
  );
}

export async function runAgentsRevoke(opts: { agent: string; json: boolean }, deps: Deps): Promise<void> {
  const { site, host } = agentRef(opts.agent);
  const r = await deps.api.revokeAgent(site, host);
  if (opts.json) {
    deps.io.out(toJson({ site, host, ...r }));
    return;
  }
  deps.io.out(`agent ${site}/${host} revoked: ${r.certificates} certificate(s) refused from now on${r.natsKeys ? ', its NATS keys removed (disconnected)' : ''}; enrol it again with a new token to bring it back`);
}
