/** The host side of migration surveys (agent/domain/migration/survey.ts): files, ports, shards, extraction-api over HTTP. */
import { access, chown, link, lstat, mkdir, readdir, readFile, readlink, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import net from 'node:net';
import path from 'node:path';
import type { AgentConfig } from '../../shared/config/agent.js';
import type { FaceSource, FaceSourceGallery } from '../../shared/migration/ops.js';
import type { GallerySurvey, PortSurvey } from '../../shared/migration/survey.js';
import { IllegalStateError, UnavailableError } from '../../shared/errors.js';
import type { MigrationOpsHost, MigrationShard } from '../domain/migration/ops.js';
import type { CommandRunner } from '../domain/integrity.js';
import { commandRunner } from './command.js';
import type { SystemctlServiceManager } from './systemctl.js';
import { freeAt } from './free-space.js';
import { createGalleryStore } from './tarantool/factory.js';
import { clientConfig, withClient } from './postgres/connection.js';

type TarantoolComponent = Extract<AgentConfig['components'][number], { kind: 'tarantool' }>;
type PostgresComponent = Extract<AgentConfig['components'][number], { kind: 'postgres' }>;

/** Where findface-security keeps each face gallery's faces, and which column names the source photo. */
const FACE_SOURCE_TABLES: Record<FaceSourceGallery, { table: string; source: string }> = {
  ffsec_face_objects: { table: 'ffsecurity_dossierface', source: 'source_photo' },
  ffsec_face_events: { table: 'ffsecurity_event', source: 'fullframe' },
};

/** How long one extraction-api batch may take (a slow model on a busy CPU, 256 faces). */
const EXTRACT_TIMEOUT_MS = 120_000;
const IMAGE = /\.(jpe?g|png)$/i;

async function bytesUnder(dir: string): Promise<number> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw err;
  }
  let total = 0;
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) total += await bytesUnder(p);
    else if (e.isFile()) total += (await lstat(p)).size;
  }
  return total;
}

/** Depth-first, names sorted, `.ffk-*` (ffkeeper's own) skipped; stops at `n`. */
async function collectImages(dir: string, n: number, out: string[]): Promise<void> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return;
  }
  entries.sort((a, b) => a.name.localeCompare(b.name));
  for (const e of entries) {
    if (out.length >= n) return;
    if (e.name.startsWith('.ffk')) continue;
    const p = path.join(dir, e.name);
    if (e.isDirectory()) await collectImages(p, n, out);
    else if (e.isFile() && IMAGE.test(e.name)) out.push(p);
  }
}

/** uid and gid of the `tarantool` user, or undefined when the host has none. */
async function tarantoolUser(): Promise<{ uid: number; gid: number } | undefined> {
  const passwd = await readFile('/etc/passwd', 'utf8').catch(() => '');
  const line = passwd.split('\n').find((l) => l.startsWith('tarantool:'));
  const f = line?.split(':');
  return f && f.length > 3 ? { uid: Number(f[2]), gid: Number(f[3]) } : undefined;
}

export class HostMigrationAccess implements MigrationOpsHost {
  private readonly runCommand: CommandRunner;
  /** Directories made (or found) already: a regeneration writes thousands of files into a few hundred. */
  private readonly madeDirs = new Set<string>();

  constructor(private readonly o: { pathPrepend: readonly string[]; services: SystemctlServiceManager }) {
    this.runCommand = commandRunner(o.pathPrepend);
  }

  writeFile(file: string, text: string): Promise<void> {
    return this.writeBytes(file, Buffer.from(text));
  }

  async linkTarget(file: string): Promise<string | undefined> {
    return readlink(file).catch(() => undefined);
  }

  async symlink(target: string, link: string): Promise<void> {
    await symlink(target, link);
  }

  async remove(file: string): Promise<void> {
    await rm(file, { recursive: true, force: true });
    for (const d of this.madeDirs) if (d === file || d.startsWith(`${file}${path.sep}`)) this.madeDirs.delete(d);
  }

  async mkdirs(dirs: readonly string[]): Promise<void> {
    for (const d of dirs) await mkdir(d, { recursive: true });
  }

  async chownTarantool(dirs: readonly string[]): Promise<void> {
    const u = await tarantoolUser();
    // Root on a host without the tarantool user (the dev site's shards run as root): nothing to give.
    if (!u || userInfo().uid !== 0) return;
    for (const d of dirs) await chown(d, u.uid, u.gid);
  }

  async unit(action: 'start' | 'stop' | 'restart' | 'enable' | 'disable', unit: string): Promise<void> {
    if (action === 'enable' || action === 'disable') return this.o.services.setEnabled(unit, action === 'enable');
    return this.o.services[action](unit);
  }

  isActive(unit: string): Promise<boolean> {
    return this.o.services.isActive(unit);
  }

  async run(command: readonly string[], timeoutMs: number): Promise<string> {
    const r = await this.runCommand([...command], timeoutMs);
    if (r.exitCode !== 0) throw new IllegalStateError(`'${command.join(' ')}' failed (exit ${r.exitCode}): ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' ')}`);
    return r.stdout;
  }

  shard(component: TarantoolComponent): MigrationShard {
    return createGalleryStore(component);
  }

  async faceSources(db: PostgresComponent, gallery: FaceSourceGallery, after: string, limit: number): Promise<FaceSource[]> {
    const t = FACE_SOURCE_TABLES[gallery];
    const endpoint = { host: db.host, port: db.port, user: db.user, ...(db.password === undefined ? {} : { password: db.password }) };
    const rows = await withClient(clientConfig(endpoint, db.database, 'ffkeeper-migration'), 'PostgreSQL', async (c) =>
      (await c.query<{ id: string; source: string; normalized: string }>(`SELECT record_id::text AS id, ${t.source} AS source, normalized FROM ${t.table} WHERE record_id > $1::bigint ORDER BY record_id LIMIT $2`, [after === '' ? '-1' : after, limit])).rows,
    );
    return rows.map((r) => ({ gallery, id: r.id, source: r.source, normalized: r.normalized }));
  }

  async detect(url: string, photos: readonly Buffer[]): Promise<{ detector: string; results: { normalized?: string; error?: string }[] }> {
    const { text } = await this.postBatch(url, photos, 'v2/detect/batch');
    const body = JSON.parse(text) as { detector?: string; results?: Array<{ normalized?: string; error?: string }> };
    return { detector: body.detector ?? '?', results: body.results ?? [] };
  }

  async readBytes(file: string): Promise<Buffer | undefined> {
    return readFile(file).catch((err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? undefined : Promise.reject(err)));
  }

  /** Runs `fn` with `file`'s directory there: made once, and again when it went away since (ENOENT). */
  private async inDir<T>(file: string, fn: () => Promise<T>): Promise<T> {
    const dir = path.dirname(file);
    if (!this.madeDirs.has(dir)) {
      await mkdir(dir, { recursive: true });
      this.madeDirs.add(dir);
    }
    try {
      return await fn();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      await mkdir(dir, { recursive: true });
      return fn();
    }
  }

  writeBytes(file: string, data: Uint8Array): Promise<void> {
    const tmp = `${file}.ffk-tmp`;
    return this.inDir(file, async () => {
      await writeFile(tmp, data);
      await rename(tmp, file);
    });
  }

  async link(existing: string, file: string): Promise<boolean> {
    if (!(await this.exists(existing))) return false;
    return this.inDir(file, () => link(existing, file)).then(() => true);
  }

  rename(from: string, to: string): Promise<void> {
    return this.inDir(to, () => rename(from, to));
  }

  async filesUnder(dir: string): Promise<string[]> {
    const out: string[] = [];
    const walk = async (rel: string): Promise<void> => {
      const entries = await readdir(path.join(dir, rel), { withFileTypes: true }).catch((err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? [] : Promise.reject(err)));
      for (const e of entries) {
        const p = path.join(rel, e.name);
        if (e.isDirectory()) await walk(p);
        else out.push(p);
      }
    };
    await walk('');
    return out.sort();
  }

  async fetchImage(url: string): Promise<Buffer | undefined> {
    const get = (): Promise<Response> => fetch(url, { signal: AbortSignal.timeout(EXTRACT_TIMEOUT_MS) });
    const res = await get()
      .catch((err: unknown) => (err instanceof TypeError ? get() : Promise.reject(err)))
      .catch((err: unknown) => {
        throw new UnavailableError(`findface-upload ${new URL(url).origin} does not answer: ${err instanceof Error ? err.message : String(err)}`);
      });
    if (res.status === 404) return undefined;
    if (!res.ok) throw new UnavailableError(`findface-upload: GET ${url}: HTTP ${res.status}`);
    return Buffer.from(await res.arrayBuffer());
  }

  async extract(url: string, images: readonly Buffer[]): Promise<{ file: string; results: { facen?: string; error?: string }[] }> {
    const { text } = await this.postBatch(url, images);
    const body = JSON.parse(text) as { file?: string; results?: Array<{ facen?: string; error?: string }> };
    return { file: body.file ?? '?', results: body.results ?? [] };
  }

  readText(file: string): Promise<string> {
    return readFile(file, 'utf8');
  }

  async exists(file: string): Promise<boolean> {
    return access(file).then(
      () => true,
      () => false,
    );
  }

  async bytesUnder(dirs: readonly string[]): Promise<number> {
    let total = 0;
    for (const d of new Set(dirs)) total += await bytesUnder(d);
    return total;
  }

  free(dir: string): Promise<{ dir: string; bytes: number }> {
    return freeAt(dir);
  }

  portFree(host: string, port: number): Promise<PortSurvey> {
    return new Promise((resolve) => {
      const server = net.createServer();
      server.once('error', (err: NodeJS.ErrnoException) => {
        const detail = err.code === 'EADDRINUSE' ? `${host}:${port} is in use` : err.code === 'EADDRNOTAVAIL' ? `${host} is not an address of this host: cannot check` : `${host}:${port}: ${err.message}`;
        resolve({ port, free: false, detail });
      });
      server.listen({ host, port, exclusive: true }, () => server.close(() => resolve({ port, free: true })));
    });
  }

  async galleries(shard: TarantoolComponent): Promise<GallerySurvey[]> {
    const store = createGalleryStore(shard);
    try {
      return (await store.listGalleries()).map((g) => ({ name: g.name, model: g.model, dim: g.dim, count: g.count }));
    } finally {
      await store.close();
    }
  }

  async sampleImages(dirs: readonly string[], n: number): Promise<Buffer[]> {
    // findface-upload's directory holds the normalized images a migration re-extracts: first.
    const ordered = [...dirs].sort((a, b) => Number(path.basename(b) === 'ffupload') - Number(path.basename(a) === 'ffupload'));
    const files: string[] = [];
    for (const d of ordered) await collectImages(d, n, files);
    return Promise.all(files.map((f) => readFile(f)));
  }

  /** One `POST /v2/extract/batch` (or `endpoint`); an extraction-api restarted since the last call (a model switch) is asked again once. */
  private async postBatch(url: string, images: readonly Buffer[], endpoint = 'v2/extract/batch'): Promise<{ text: string }> {
    const post = (): Promise<Response> =>
      fetch(new URL(endpoint, url.endsWith('/') ? url : `${url}/`), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ kind: 'face', images: images.map((i) => i.toString('base64')) }),
        signal: AbortSignal.timeout(EXTRACT_TIMEOUT_MS),
      });
    // A kept-alive connection to an extraction-api restarted since (a model switch) fails on first use;
    // an extraction changes nothing, so it is asked again once on a fresh connection.
    const res = await post()
      .catch((err: unknown) => (err instanceof TypeError ? post() : Promise.reject(err)))
      .catch((err: unknown) => {
        throw new UnavailableError(`extraction-api ${url} does not answer: ${err instanceof Error ? err.message : String(err)}`);
      });
    const text = await res.text();
    if (!res.ok) throw new UnavailableError(`extraction-api ${url}: HTTP ${res.status}: ${text.slice(0, 300)}`);
    return { text };
  }

  async extractBatch(url: string, images: readonly Buffer[]): Promise<{ extracted: number; failed: number; model: string }> {
    const { text } = await this.postBatch(url, images);
    const body = JSON.parse(text) as { file?: string; results?: Array<{ facen?: string; error?: string }> };
    const results = body.results ?? [];
    const extracted = results.filter((r) => typeof r.facen === 'string').length;
    return { extracted, failed: images.length - extracted, model: body.file ?? '?' };
  }

  now(): number {
    return performance.now();
  }
}
