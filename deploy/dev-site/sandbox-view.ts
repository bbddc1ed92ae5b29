/**
 * The integrity checker on a verify drill's sandbox: when the agent runs `check` with `FFK_SANDBOX`
 * naming a sandbox description (shared/sandbox.ts), the site is checked as the sandbox holds it — the
 * scratch database instead of the site's, each shard's scratch instance by shard name, each upload root's
 * restored copy — and never the live site. A sandbox that lacks one of the site's parts is refused, so a
 * partial drill cannot pass by checking the live part.
 */
import { readFileSync } from 'node:fs';
import { ValidationError } from '../../shared/errors.js';
import { parseSandboxDescription, SANDBOX_ENV, type SandboxComponent, type SandboxDescription } from '../../shared/sandbox.js';
import { servingShards } from './instances.js';
import type { SiteState } from './state.js';

type Of<K extends SandboxComponent['kind']> = Extract<SandboxComponent, { kind: K }>;

function only<K extends SandboxComponent['kind']>(sandbox: SandboxDescription, kind: K): Of<K>[] {
  return sandbox.components.filter((c): c is Of<K> & { agentHost: string } => c.kind === kind);
}

/** The site's state with its database, shards and upload directories replaced by the sandbox's. */
export function sandboxView(state: SiteState, sandbox: SandboxDescription): SiteState {
  const missing = (what: string): never => {
    throw new ValidationError(`sandbox '${sandbox.sandboxId}' of site '${sandbox.site}' holds no ${what} of dev site '${state.site}'`, { field: 'sandbox' });
  };
  const [pg] = only(sandbox, 'postgres');
  if (!pg) missing('PostgreSQL database');
  const tnt = only(sandbox, 'tarantool');
  // The shards sf-api serves (a migrated site's new ones), each replaced by the sandbox's instance of it.
  const shards = servingShards(state).map((s) => {
    const c = tnt.find((x) => x.name === s.name) ?? missing(`shard ${s.name}`);
    return { ...s, port: c.port };
  });
  const roots = only(sandbox, 'uploads').flatMap((u) => u.roots);
  const restored = (dir: string): string => roots.find((r) => r.original === dir)?.restored ?? missing(`upload directory ${dir}`);
  return {
    ...state,
    sandboxOf: sandbox.sandboxId,
    postgres: { ...state.postgres, host: pg!.host, port: pg!.port, database: pg!.database, owner: pg!.owner },
    shards,
    uploads: { uploadsDir: restored(state.uploads.uploadsDir), ffuploadDir: restored(state.uploads.ffuploadDir) },
  };
}

/** The state to check: the sandbox named by `FFK_SANDBOX` when set, else the live site. */
export function stateToCheck(state: SiteState, env: NodeJS.ProcessEnv = process.env): { state: SiteState; sandbox?: SandboxDescription } {
  const file = env[SANDBOX_ENV];
  if (!file) return { state };
  let json: string;
  try {
    json = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ValidationError(`${SANDBOX_ENV}=${file} cannot be read: ${(err as Error).message}`, { field: SANDBOX_ENV, cause: err });
  }
  const sandbox = parseSandboxDescription(json, `${SANDBOX_ENV} file ${file}`);
  return { state: sandboxView(state, sandbox), sandbox };
}
