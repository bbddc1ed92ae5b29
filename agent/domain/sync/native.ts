/**
 * FindFace's native master/slave sync on the host that runs findface-security: the agent edits the
 * service's config.py (SYNC_TOKEN, SYNC_TIME, EXTERNAL_ADDRESS, the sync plugin), restarts the service
 * when it changed something (it reads config.py at start), and calls its `/sync/dossier-lists/` API.
 * The requests and results are shared/sync/native.ts; the token is a secret and is never logged.
 */
import { randomBytes } from 'node:crypto';
import { IllegalStateError, NotFoundError, ValidationError } from '../../../shared/errors.js';
import { readSecuritySyncSettings, updateSecuritySyncSettings, type SecuritySyncUpdate } from '../../../shared/findface/config-py.js';
import type { NativeReplica, NativeSettings, NativeSyncRequest, NativeSyncResult } from '../../../shared/sync/native.js';
import type { Logger } from '../../../shared/logger.js';

/** findface-security's configuration file. */
export interface SecurityConfigFile {
  readonly path: string;
  read(): Promise<string>;
  /** Replaces the file atomically, keeping its mode and owner. */
  write(text: string): Promise<void>;
}

/** findface-security's sync API on this host, authenticated with the site's SYNC_TOKEN. */
export interface SecuritySyncApi {
  readonly url: string;
  replicas(token: string): Promise<NativeReplica[]>;
  create(token: string, link: { remoteList: number; remoteUrl: string; slaveList: number }): Promise<NativeReplica>;
  /** False when the list was not a replica. */
  remove(token: string, slaveList: number): Promise<boolean>;
  /** Resolves once the API answers (after a restart); throws after `timeoutMs`. */
  waitReady(token: string, timeoutMs: number): Promise<void>;
}

export interface UnitRestarter {
  restart(unit: string): Promise<void>;
}

export interface NativeSyncDeps {
  config: SecurityConfigFile;
  api: SecuritySyncApi;
  services: UnitRestarter;
  unit: string;
  logger: Logger;
  /** How long findface-security may take to answer after a restart. */
  readyTimeoutMs?: number;
}

const READY_TIMEOUT_MS = 120_000;

export function newSyncToken(): string {
  return randomBytes(24).toString('base64url');
}

export async function nativeSync(deps: NativeSyncDeps, req: NativeSyncRequest): Promise<NativeSyncResult> {
  switch (req.op) {
    case 'settings':
      return { settings: settingsOf(deps, await deps.config.read()) };
    case 'master': {
      const text = await deps.config.read();
      const current = readSecuritySyncSettings(text);
      if (!current.externalAddress) {
        throw new ValidationError(`${deps.config.path} has no EXTERNAL_ADDRESS: a sync master needs it (its slaves pull from that URL)`, { field: 'EXTERNAL_ADDRESS' });
      }
      const token = current.syncToken || newSyncToken();
      const changed = await apply(deps, text, { syncToken: token, syncTime: req.syncTime, installPlugin: true });
      return { token, changed, settings: settingsOf(deps, await deps.config.read()) };
    }
    case 'slave': {
      const changed = await apply(deps, await deps.config.read(), { syncToken: req.token, syncTime: req.syncTime, externalAddress: req.externalAddress, installPlugin: true });
      return { changed, settings: settingsOf(deps, await deps.config.read()) };
    }
    case 'link':
      return { replica: await deps.api.create(await tokenOf(deps), req) };
    case 'unlink':
      return { removed: await deps.api.remove(await tokenOf(deps), req.slaveList) };
    case 'replicas':
      return { replicas: await deps.api.replicas(await tokenOf(deps)) };
  }
}

function settingsOf(deps: NativeSyncDeps, text: string): NativeSettings {
  const s = readSecuritySyncSettings(text);
  return {
    configPath: deps.config.path,
    ...(s.externalAddress === undefined ? {} : { externalAddress: s.externalAddress }),
    tokenSet: s.syncToken !== undefined,
    syncTime: s.syncTime,
    ...(s.timeZone === undefined ? {} : { timeZone: s.timeZone }),
    pluginInstalled: s.syncPluginInstalled,
  };
}

async function tokenOf(deps: NativeSyncDeps): Promise<string> {
  const token = readSecuritySyncSettings(await deps.config.read()).syncToken;
  if (!token) throw new NotFoundError(`${deps.config.path} has no SYNC_TOKEN: this site takes part in no native sync link`);
  return token;
}

/** Writes the update when it changes the file, then restarts findface-security and waits for its API. */
async function apply(deps: NativeSyncDeps, text: string, update: SecuritySyncUpdate): Promise<boolean> {
  const next = updateSecuritySyncSettings(text, update);
  if (next === text) return false;
  await deps.config.write(next);
  deps.logger.info({ config: deps.config.path, unit: deps.unit }, 'native sync: findface-security settings changed; restarting it');
  try {
    await deps.services.restart(deps.unit);
    await deps.api.waitReady(update.syncToken ?? '', deps.readyTimeoutMs ?? READY_TIMEOUT_MS);
  } catch (err) {
    throw new IllegalStateError(`${deps.config.path} was changed but ${deps.unit} did not come back: ${(err as Error).message}`, { cause: err });
  }
  return true;
}
