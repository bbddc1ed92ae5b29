/**
 * FindFace's native master/slave sync driven from the controller (`sync link --mode native`): what the
 * controller asks of the agent that runs a site's findface-security (the agent with the
 * `findface-security` role), as JSON over the agent's `NativeSync` call.
 *
 * - `settings`: the sync settings of the site's config.py, the token never included;
 * - `master`: make this site a sync master — a SYNC_TOKEN (kept when set, else generated), SYNC_TIME,
 *   the sync plugin; answers the token and EXTERNAL_ADDRESS (which must be set: it is the URL slaves
 *   pull from);
 * - `slave`: the master's SYNC_TOKEN, SYNC_TIME and EXTERNAL_ADDRESS (the reference: "the same address
 *   as on the master"), the sync plugin;
 * - `link` / `unlink`: POST / DELETE `/sync/dossier-lists/` on this (slave) site's findface-security;
 * - `replicas`: its replicas with each one's last nightly run.
 * The agent restarts findface-security when it changed config.py (the service reads it at start).
 */
import { z } from 'zod';
import { parseJsonRequest } from '../json-request.js';

export const FINDFACE_SECURITY_ROLE = 'findface-security';

const syncTime = z.object({ hour: z.number().int().min(0).max(23), minute: z.number().int().min(0).max(59) }).strict();
const listId = z.number().int().positive();

export const nativeSyncRequestSchema = z.discriminatedUnion('op', [
  z.object({ op: z.literal('settings') }).strict(),
  z.object({ op: z.literal('master'), syncTime }).strict(),
  z.object({ op: z.literal('slave'), syncTime, token: z.string().min(8), externalAddress: z.string().url() }).strict(),
  z.object({ op: z.literal('link'), remoteList: listId, remoteUrl: z.string().url(), slaveList: listId }).strict(),
  z.object({ op: z.literal('unlink'), slaveList: listId }).strict(),
  z.object({ op: z.literal('replicas') }).strict(),
]);

export type NativeSyncRequest = z.infer<typeof nativeSyncRequestSchema>;

export interface NativeSettings {
  configPath: string;
  externalAddress?: string;
  tokenSet: boolean;
  syncTime: { hour: number; minute: number };
  timeZone?: string;
  pluginInstalled: boolean;
}

export interface NativeRun {
  startedAt: string;
  finishedAt?: string;
  status: 'ok' | 'failed' | 'running';
  error?: string;
  dossiers?: number;
  faces?: number;
}

export interface NativeReplica {
  id: number;
  remoteList: number;
  remoteUrl: string;
  slaveList: number;
  createdAt?: string;
  lastRun?: NativeRun;
}

export interface NativeSyncResult {
  settings?: NativeSettings;
  /** master: the site's token (a secret: never logged, never stored by the controller). */
  token?: string;
  /** Whether config.py was changed (and findface-security restarted). */
  changed?: boolean;
  replica?: NativeReplica;
  replicas?: NativeReplica[];
  /** unlink: false when the list was not a replica. */
  removed?: boolean;
}

export function parseNativeSyncRequest(json: string): NativeSyncRequest {
  return parseJsonRequest(json, nativeSyncRequestSchema, 'native sync request');
}
