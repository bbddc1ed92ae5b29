/**
 * Who may call what on the controller (DESIGN.md §12): every call carries an operator identity (from the
 * client certificate); the controller's config grants each operator a role — `viewer` (list, show, logs),
 * `operator` (snapshot, verify, sync, schedules, restore into a scratch site), `admin` (everything:
 * restore into a live site, delete, retention, unlink, catalog rebuild) — optionally only for some
 * sites. Checked here, for every call, before it runs; never in the client. Pure.
 */
import { PermissionDeniedError } from '../../../shared/errors.js';

export type Role = 'viewer' | 'operator' | 'admin';
export const ROLES: readonly Role[] = ['viewer', 'operator', 'admin'];

export interface OperatorGrant {
  role: Role;
  /** Only these sites (calls naming another site are denied); absent: every site. */
  sites?: readonly string[];
}

export interface AccessConfig {
  operators: Readonly<Record<string, OperatorGrant>>;
  /** Non-production sites an `operator` may restore into. */
  scratchSites: readonly string[];
}

/** A request as the gRPC layer decoded it (camelCase fields). */
type Req = Record<string, unknown>;

export interface MethodPolicy {
  role: Role | ((req: Req, access: AccessConfig) => Role);
  /** Changes something: recorded in the audit stream (reads are not). */
  mutating: boolean;
  /** The sites the call names (for site-scoped grants and the audit record). */
  sites: (req: Req) => string[];
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
const site = (req: Req): string[] => [str(req.site)].filter((s): s is string => s !== undefined);
const none = (): string[] => [];
/** `SITE/HOST` of an agent reference. */
const agentSite = (req: Req): string[] => [str(req.agent)?.split('/')[0] ?? str(req.site)].filter((s): s is string => s !== undefined);
/** Sites of a sync link id `<from site>.<list>.<to site>.<list>`. */
const linkSites = (req: Req): string[] => {
  const parts = (str(req.id) ?? '').split('.');
  return parts.length === 4 ? [parts[0] as string, parts[2] as string] : [];
};
const restoreTarget = (req: Req): string | undefined => str(req.toSite) ?? str(req.site);
const restoreSites = (req: Req): string[] => [...new Set([...site(req), ...[restoreTarget(req)].filter((s): s is string => s !== undefined)])];

const view = (sites: MethodPolicy['sites'] = site): MethodPolicy => ({ role: 'viewer', mutating: false, sites });
const act = (role: Role, sites: MethodPolicy['sites'] = site): MethodPolicy => ({ role, mutating: true, sites });

/** Every controller method (the gRPC service's method names). A method missing here is denied to all. */
export const METHOD_POLICIES: Readonly<Record<string, MethodPolicy>> = {
  listSites: view(none),
  listAgents: view(),
  getAgent: view(agentSite),
  listSnapshots: view(),
  getSnapshot: view(),
  planRestore: view(restoreSites),
  listJobs: view(),
  getJob: view(none),
  watchJob: view(none),
  listSchedules: view(),
  getRetention: view(),
  planRetention: view(),
  listSyncLinks: view(),
  getSyncLink: view(linkSites),
  listAudit: view(),
  verifyAudit: view(none),
  createSnapshot: act('operator'),
  // Adds copies of sealed snapshots to the site's secondary repository (removes nothing).
  copySnapshots: act('operator'),
  verify: act('operator'),
  setSchedule: act('operator'),
  removeSchedule: act('operator'),
  createSyncLink: act('operator', (req) => [str(req.fromSite), str(req.toSite)].filter((s): s is string => s !== undefined)),
  setSyncLinkPaused: act('operator', linkSites),
  checkSyncLink: act('operator', linkSites),
  runSyncLink: act('operator', linkSites),
  // A restore replaces a site's data: into a live site only an admin; into a scratch site an operator too.
  restore: { role: (req, access) => (access.scratchSites.includes(restoreTarget(req) ?? '') ? 'operator' : 'admin'), mutating: true, sites: restoreSites },
  // The job id does not say which site: resuming is for admins.
  resumeRestore: act('admin', none),
  deleteSnapshot: act('admin'),
  // Copies a site's whole data (its database dump with user accounts among it) out of the repository
  // into plain files on its hosts.
  exportSnapshot: act('admin'),
  // Writes a new snapshot into the site's repository from files on its hosts (a restore can then put it live).
  importSnapshot: act('admin'),
  // Changes nothing, but reads the site's FindFace configs and loads its extraction-api with a sample.
  planMigration: { role: 'operator', mutating: false, sites: site },
  // Moves every face of a live site into new shards and switches sf-api to them: an admin's decision.
  migrate: act('admin'),
  // The job id does not say which site: resuming is for admins.
  resumeMigration: act('admin', none),
  rollbackMigration: act('admin'),
  // Deletes the old shards' files: the way back is a snapshot from then on.
  finishMigration: act('admin'),
  rebuildCatalog: act('admin'),
  // Writes and deletes a test snapshot in the site's repository, with the maintenance credentials.
  qualifyRepository: act('admin'),
  setRetention: act('admin'),
  applyRetention: act('admin'),
  deleteSyncLink: act('admin', linkSites),
  createJoinToken: act('admin'),
  revokeAgent: act('admin'),
  revokeOperator: act('admin'),
  createConsoleToken: act('admin', none),
};

const rank = (r: Role): number => ROLES.indexOf(r);

export interface Decision {
  operator: string;
  role?: Role;
  needed: Role;
  sites: string[];
  mutating: boolean;
}

/**
 * Decides a call by `operator` to `method`; throws a PermissionDeniedError with a one-line reason when it
 * is not allowed, else returns what was decided (for the audit record).
 */
export function authorizeCall(access: AccessConfig, operator: string, method: string, req: Req): Decision {
  const policy = METHOD_POLICIES[method];
  if (!policy) throw new PermissionDeniedError(`operator ${operator}: ${method} is not a call operators may make`);
  const needed = typeof policy.role === 'function' ? policy.role(req, access) : policy.role;
  const sites = policy.sites(req);
  const grant = access.operators[operator];
  const decision: Decision = { operator, needed, sites, mutating: policy.mutating, ...(grant ? { role: grant.role } : {}) };
  if (!grant) throw new PermissionDeniedError(`operator ${operator} has no role on this controller (access.operators); ${method} denied`);
  if (rank(grant.role) < rank(needed)) {
    const why = method === 'restore' && needed === 'admin' ? ` (site '${restoreTarget(req)}' is not a scratch site)` : '';
    throw new PermissionDeniedError(`operator ${operator} (${grant.role}) may not call ${method}: it needs ${needed}${why}`);
  }
  const outside = grant.sites ? sites.filter((s) => !grant.sites?.includes(s)) : [];
  if (outside.length > 0) throw new PermissionDeniedError(`operator ${operator} (${grant.role} of ${grant.sites?.join(', ')}) may not call ${method} for site '${outside[0]}'`);
  return decision;
}
