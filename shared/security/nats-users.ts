/**
 * The fleet's NATS principals, kept beside the fleet CA (`<caDir>/nats/`): each agent and the controller
 * holds an nkey seed (`nats.nk`, 0600) and the CA directory records only its public key
 * (`users.json`). The nats-servers that trust the fleet are registered there too (`servers/<name>.json`):
 * issuing or revoking a principal regenerates each one's configuration (shared/security/nats-permissions.ts)
 * and reloads it (SIGHUP), and returns once the server runs the new configuration — a revoked
 * principal's connections are closed by that reload.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { nkeys } from '@nats-io/transport-node';
import { NotFoundError, UnavailableError, ValidationError } from '../errors.js';
import { identityUri, parseIdentityUri, type PeerIdentity } from './identity.js';
import { natsServerConfig, type NatsClusterNode } from './nats-permissions.js';
import { readKeyFile } from './tls-files.js';

export { natsSeedOf } from './tls-files.js';

/** Each identity's keys: issuing again (a renewal, a second host of a test) adds one; revoking removes them all. */
interface UsersFile {
  users: Record<string, Array<{ publicKey: string; issuedAt: string }>>;
}

/** A nats-server that trusts the fleet: where its configuration goes and how to signal it. */
export interface NatsServerEntry {
  name: string;
  configFile: string;
  listen: string;
  storeDir: string;
  /** Monitoring `host:port`: a reload is seen to take effect there. */
  monitor: string;
  /** The server's pid, or a file holding it. */
  pid?: number;
  pidFile?: string;
  /** This server as a node of a cluster (its routes' secret is the CA directory's: `nats/route-secret`). */
  cluster?: Omit<NatsClusterNode, 'secret'>;
}

const natsDir = (caDir: string): string => path.join(caDir, 'nats');
const usersPath = (caDir: string): string => path.join(natsDir(caDir), 'users.json');
const serversDir = (caDir: string): string => path.join(natsDir(caDir), 'servers');

function writeAtomic(file: string, text: string, mode = 0o600): void {
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  writeFileSync(tmp, text, { mode });
  chmodSync(tmp, mode);
  renameSync(tmp, file);
}

/** Runs `fn` holding the CA directory's NATS lock (a directory: atomic on every filesystem), so parallel issuers do not lose each other's users. */
async function withLock<T>(caDir: string, fn: () => Promise<T>): Promise<T> {
  const lock = path.join(natsDir(caDir), 'lock');
  mkdirSync(natsDir(caDir), { recursive: true, mode: 0o700 });
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      if (Date.now() > deadline) throw new UnavailableError(`the NATS user registry ${natsDir(caDir)} stays locked (remove ${lock} if no ffkeeper process holds it)`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

function readUsers(caDir: string): UsersFile {
  const file = usersPath(caDir);
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as UsersFile) : { users: {} };
}

/** Every principal the fleet's nats-servers accept. */
export function natsUsers(caDir: string): Array<{ identity: PeerIdentity; publicKey: string }> {
  return Object.entries(readUsers(caDir).users).flatMap(([uri, keys]) => {
    const identity = parseIdentityUri(uri);
    return identity ? keys.map((k) => ({ identity, publicKey: k.publicKey })) : [];
  });
}

export function natsServers(caDir: string): NatsServerEntry[] {
  const dir = serversDir(caDir);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .flatMap((f) => {
      try {
        return [JSON.parse(readFileSync(path.join(dir, f), 'utf8')) as NatsServerEntry];
      } catch {
        return []; // being written
      }
    });
}

/** The running server's pid; undefined when it is not running (a pid reused by another program is not it). */
function pidOf(entry: NatsServerEntry): number | undefined {
  let pid = entry.pid;
  if (pid === undefined && entry.pidFile && existsSync(entry.pidFile)) pid = Number(readFileSync(entry.pidFile, 'utf8').trim()) || undefined;
  if (pid === undefined) return undefined;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('nats-server') ? pid : undefined;
  } catch {
    return undefined;
  }
}

async function configLoadTime(monitor: string): Promise<string | undefined> {
  try {
    const res = await fetch(`http://${monitor}/varz`, { signal: AbortSignal.timeout(2000) });
    return ((await res.json()) as { config_load_time?: string }).config_load_time;
  } catch {
    return undefined;
  }
}

/**
 * Which other sites' sync streams each site's agents may read (slave site → master sites): granted by the
 * controller from the sync links (a slave follows its master's published watch lists), nothing else.
 */
export type SyncReadGrants = Record<string, string[]>;

const grantsPath = (caDir: string): string => path.join(natsDir(caDir), 'grants.json');

export function syncReadGrants(caDir: string): SyncReadGrants {
  const file = grantsPath(caDir);
  return existsSync(file) ? ((JSON.parse(readFileSync(file, 'utf8')) as { syncReads?: SyncReadGrants }).syncReads ?? {}) : {};
}

/** The grants in a canonical form (sites sorted, no empty entries, no site granted its own stream). */
function canonicalGrants(grants: SyncReadGrants): SyncReadGrants {
  const out: SyncReadGrants = {};
  for (const site of Object.keys(grants).sort()) {
    const masters = [...new Set(grants[site] ?? [])].filter((m) => m !== site).sort();
    if (masters.length > 0) out[site] = masters;
  }
  return out;
}

/**
 * Sets the sync read grants; when they changed, every registered server gets its new configuration and is
 * reloaded (this returns once each runs it). Returns whether they changed.
 */
export async function setSyncReadGrants(caDir: string, grants: SyncReadGrants): Promise<boolean> {
  const next = canonicalGrants(grants);
  const changed = await withLock(caDir, async () => {
    if (JSON.stringify(canonicalGrants(syncReadGrants(caDir))) === JSON.stringify(next)) return false;
    writeAtomic(grantsPath(caDir), JSON.stringify({ syncReads: next }, null, 2));
    return true;
  });
  if (changed) await requestReload(caDir);
  return changed;
}

/** The routes' shared secret of the fleet's cluster nodes, made at first use (0600 in the CA directory). */
function routeSecret(caDir: string): string {
  const file = path.join(natsDir(caDir), 'route-secret');
  if (!existsSync(file)) writeAtomic(file, randomBytes(24).toString('base64url'));
  return readFileSync(file, 'utf8').trim();
}

/** Writes the server's configuration from the current users and grants. */
export function writeNatsServerConfig(caDir: string, entry: Omit<NatsServerEntry, 'name'>): void {
  writeAtomic(
    entry.configFile,
    natsServerConfig({
      listen: entry.listen,
      storeDir: entry.storeDir,
      monitor: entry.monitor,
      users: natsUsers(caDir),
      syncReads: syncReadGrants(caDir),
      ...(entry.cluster ? { cluster: { ...entry.cluster, secret: routeSecret(caDir) } } : {}),
    }),
  );
}

/** Regenerates every registered server's configuration and reloads the running ones; waits until each runs it. */
async function reloadAll(caDir: string): Promise<void> {
  await Promise.all(
    natsServers(caDir).map(async (entry) => {
      writeNatsServerConfig(caDir, entry);
      const pid = pidOf(entry);
      if (pid === undefined) return; // not running: it reads the new file when it starts
      const before = await configLoadTime(entry.monitor);
      try {
        process.kill(pid, 'SIGHUP');
      } catch {
        return; // exited: it reads the new file when it starts
      }
      const deadline = Date.now() + 10_000;
      while (Date.now() < deadline) {
        const now = await configLoadTime(entry.monitor);
        if (now !== undefined && now !== before) return;
        await new Promise((r) => setTimeout(r, 25));
      }
      throw new UnavailableError(`nats-server '${entry.name}' (pid ${pid}) did not reload ${entry.configFile} within 10 s`);
    }),
  );
}

/**
 * Reloads every registered server once the users written so far are in: concurrent issuers of one
 * process share reloads (one running, at most one more queued behind it for whoever wrote meanwhile).
 */
const reloads = new Map<string, { running?: Promise<void>; next?: Promise<void> }>();
function requestReload(caDir: string): Promise<void> {
  let state = reloads.get(caDir);
  if (!state) reloads.set(caDir, (state = {}));
  const st = state;
  if (!st.running) {
    st.running = withLock(caDir, () => reloadAll(caDir)).finally(() => (st.running = undefined));
    return st.running;
  }
  st.next ??= st.running
    .catch(() => undefined)
    .then(() => {
      st.next = undefined;
      return requestReload(caDir);
    });
  return st.next;
}

/** Registers a nats-server (its configuration is written now, from the current users). */
export async function registerNatsServer(caDir: string, entry: NatsServerEntry): Promise<void> {
  if (!/^[A-Za-z0-9._-]+$/.test(entry.name)) throw new ValidationError(`nats-server name '${entry.name}' must be letters, digits, '.', '_' or '-'`, { field: 'name' });
  await withLock(caDir, async () => {
    writeNatsServerConfig(caDir, entry);
    writeAtomic(path.join(serversDir(caDir), `${entry.name}.json`), JSON.stringify(entry, null, 2));
  });
}

/** Records the pid of a registered server that (re)started. */
export async function setNatsServerPid(caDir: string, name: string, pid: number): Promise<void> {
  await withLock(caDir, async () => {
    const file = path.join(serversDir(caDir), `${name}.json`);
    const entry = JSON.parse(readFileSync(file, 'utf8')) as NatsServerEntry;
    writeAtomic(file, JSON.stringify({ ...entry, pid }, null, 2));
  });
}

export function unregisterNatsServer(caDir: string, name: string): void {
  rmSync(path.join(serversDir(caDir), `${name}.json`), { force: true });
}

/**
 * A new nkey for `identity` (its earlier ones stay valid until revoked, as a renewed certificate leaves
 * the old one valid until it expires), its seed written to `seedFile` (0600; usually
 * `nats.nk` beside the identity's certificate); the registered servers accept it when this returns.
 */
export async function issueNatsCredentials(caDir: string, identity: PeerIdentity, seedFile: string): Promise<string> {
  await issueNatsCredentialsMany(caDir, [{ identity, seedFile }]);
  return seedFile;
}

/** Registers the public nkey of `identity` (whose seed never left its host: enrolment); the registered servers accept it when this returns. */
export async function addNatsUser(caDir: string, identity: PeerIdentity, publicKey: string): Promise<void> {
  await addNatsUsers(caDir, [{ identity, publicKey }]);
}

/**
 * Registers many public nkeys at once: one hold of the registry's lock, one write, one reload (a
 * thousand agents registered one by one would queue a thousand times for the lock and the reload).
 */
export async function addNatsUsers(caDir: string, entries: readonly { identity: PeerIdentity; publicKey: string }[]): Promise<void> {
  for (const { publicKey } of entries) {
    if (!isNatsUserPublicKey(publicKey)) throw new ValidationError(`'${publicKey.slice(0, 60)}' is not a NATS user public key (U…)`, { field: 'natsPublicKey' });
  }
  if (entries.length === 0) return;
  await withLock(caDir, async () => {
    const file = readUsers(caDir);
    const issuedAt = new Date().toISOString();
    for (const { identity, publicKey } of entries) {
      const uri = identityUri(identity);
      file.users[uri] = [...(file.users[uri] ?? []), { publicKey, issuedAt }];
    }
    writeAtomic(usersPath(caDir), JSON.stringify(file, null, 2));
  });
  await requestReload(caDir);
}

/** `issueNatsCredentials` for many identities at once (one registration: `addNatsUsers`). */
export async function issueNatsCredentialsMany(caDir: string, wanted: readonly { identity: PeerIdentity; seedFile: string }[]): Promise<void> {
  const entries = wanted.map(({ identity, seedFile }) => {
    const user = nkeys.createUser();
    writeAtomic(seedFile, `${new TextDecoder().decode(user.getSeed())}\n`);
    return { identity, publicKey: user.getPublicKey() };
  });
  await addNatsUsers(caDir, entries);
}

/** Whether `key` is a NATS user public key (U…, checksum right). */
export function isNatsUserPublicKey(key: string): boolean {
  if (!key.startsWith('U')) return false;
  try {
    nkeys.fromPublic(key);
    return true;
  } catch {
    return false;
  }
}

/** A new nkey pair: its seed (kept by the caller, 0600) and public key. */
export function createNatsUser(): { seed: string; publicKey: string } {
  const user = nkeys.createUser();
  return { seed: new TextDecoder().decode(user.getSeed()), publicKey: user.getPublicKey() };
}

/** Writes a seed file (0600). */
export function writeNatsSeed(file: string, seed: string): void {
  writeAtomic(file, `${seed}\n`);
}

/** Removes `identity`'s keys; the registered servers close its connections and refuse it when this returns. */
export async function revokeNatsCredentials(caDir: string, identity: PeerIdentity): Promise<boolean> {
  return withLock(caDir, async () => {
    const file = readUsers(caDir);
    const uri = identityUri(identity);
    if (!file.users[uri]) return false;
    delete file.users[uri];
    writeAtomic(usersPath(caDir), JSON.stringify(file, null, 2));
    return true;
  }).then(async (removed) => {
    if (removed) await requestReload(caDir);
    return removed;
  });
}

/** Reads an nkey seed file (0600, refused when looser) and checks it is a user seed; the message names the file. */
export function readNatsSeed(file: string): Uint8Array {
  if (!existsSync(file)) throw new NotFoundError(`NATS seed file ${file} does not exist`);
  const seed = readKeyFile(file).toString('utf8').trim();
  try {
    nkeys.fromSeed(new TextEncoder().encode(seed)).getPublicKey();
  } catch {
    throw new ValidationError(`NATS seed file ${file} does not hold an nkey seed`, { field: 'seedFile' });
  }
  if (!seed.startsWith('SU')) throw new ValidationError(`NATS seed file ${file} holds a ${seed.slice(0, 2)} seed, not a user seed (SU…)`, { field: 'seedFile' });
  return new TextEncoder().encode(seed);
}
