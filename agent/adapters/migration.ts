/** The host side of migration surveys (agent/domain/migration/survey.ts): files, ports, shards, extraction-api over HTTP. */
import { access, lstat, readdir, readFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import type { AgentConfig } from '../../shared/config/agent.js';
import type { GallerySurvey, PortSurvey } from '../../shared/migration/survey.js';
import type { MigrationHost } from '../domain/migration/survey.js';
import { freeAt } from './free-space.js';
import { createGalleryStore } from './tarantool/factory.js';

type TarantoolComponent = Extract<AgentConfig['components'][number], { kind: 'tarantool' }>;

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

export class HostMigrationAccess implements MigrationHost {
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

  async extractBatch(url: string, images: readonly Buffer[]): Promise<{ extracted: number; failed: number; model: string }> {
    const post = (): Promise<Response> =>
      fetch(new URL('v2/extract/batch', url.endsWith('/') ? url : `${url}/`), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ kind: 'face', images: images.map((i) => i.toString('base64')) }),
        signal: AbortSignal.timeout(EXTRACT_TIMEOUT_MS),
      });
    // A kept-alive connection to an extraction-api restarted since (a model switch) fails on first use;
    // an extraction changes nothing, so it is asked again once on a fresh connection.
    const res = await post().catch((err: unknown) => (err instanceof TypeError ? post() : Promise.reject(err)));
    const text = await res.text();
    if (!res.ok) throw new Error(`HTTP ${res.status}: ${text.slice(0, 300)}`);
    const body = JSON.parse(text) as { file?: string; results?: Array<{ facen?: string; error?: string }> };
    const results = body.results ?? [];
    const extracted = results.filter((r) => typeof r.facen === 'string').length;
    return { extracted, failed: images.length - extracted, model: body.file ?? '?' };
  }

  now(): number {
    return performance.now();
  }
}
