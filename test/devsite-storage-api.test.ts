/**
 * The dev site's `findface-storage-api-dump` and `findface-storage-api-restore` shims
 * (deploy/dev-site/storage-api-tools.ts), run from the site's bin dir with FindFace's command lines: the
 * dump writes one `<gallery>.json` per gallery in the agent's export line format (its per-shard lines
 * hash to the agent's gallery digests); a restore into emptied galleries that stops at a broken line
 * resumes after the lines already taken once the file is fixed, and ends with the site's integrity check
 * passing and every gallery as before; bad arguments and bad files fail naming what is wrong.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IprotoGalleryStore } from '../agent/adapters/tarantool/iproto-gallery-store.js';
import { checkSite, GALLERIES, ShardSet, upSite, type GalleryRecord, type SiteState } from '../deploy/dev-site/index.js';
import { randomVector } from '../deploy/dev-site/shards.js';
import { shardIndexOf } from '../deploy/dev-site/state.js';
import { TarantoolClient } from '../shared/tarantool/iproto.js';
import { cleanRoot, testRoot, uniqueSite } from './devsite/fixtures.js';

const root = testRoot();
const site = uniqueSite('sapi');
const DUMP = path.join(root, 'dump');
const DIM = 16;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs a shim of the site's bin dir as an operator would (from `/`, absolute paths). */
function shim(state: SiteState, tool: string, args: string[]): Promise<Run> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    execFile(path.join(state.binDir, tool), args, { cwd: '/', timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr, ms: Date.now() - t0 });
    });
  });
}

/** Every gallery's digest on every shard, as the agent computes it: {shard: {gallery: {count, sha256}}}. */
async function digests(state: SiteState): Promise<Record<string, Record<string, { count: number; sha256: string }>>> {
  const out: Record<string, Record<string, { count: number; sha256: string }>> = {};
  for (const s of state.shards) {
    const store = new IprotoGalleryStore({ host: '127.0.0.1', port: s.port });
    try {
      out[s.name] = await store.digest();
    } finally {
      await store.close();
    }
  }
  return out;
}

function countsOf(d: Awaited<ReturnType<typeof digests>>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const byGallery of Object.values(d)) for (const [g, v] of Object.entries(byGallery)) out[g] = (out[g] ?? 0) + v.count;
  return out;
}

/** Empties every gallery of every shard (the spaces stay, as the site's schema made them). */
async function truncateGalleries(state: SiteState): Promise<void> {
  for (const s of state.shards) {
    const c = await TarantoolClient.connect({ port: s.port });
    try {
      await c.eval('for _, g in box.space.ffk_galleries:pairs() do box.space[g[1]]:truncate() end');
    } finally {
      c.close();
    }
  }
}

const linesOf = (file: string): string[] => readFileSync(file, 'utf8').split('\n').slice(0, -1);
const idOf = (line: string): number => (JSON.parse(line) as { id: number }).id;

describe('dev site: findface-storage-api-dump and -restore', () => {
  let state: SiteState;
  let ini: string;
  let before: Awaited<ReturnType<typeof digests>>;
  const timings: Record<string, number> = {};

  beforeAll(async () => {
    ({ state } = await upSite({ site, root, shards: 2, dossiers: 30, events: 60, vectorDim: DIM, imageScale: 0.05 }));
    ini = state.sfApi.configPath;
    // Metadata of every kind a line must carry exactly: fractions, escapes, non-ASCII, booleans, none.
    const shards = await ShardSet.connect(state.shards);
    try {
      const model = (await shards.galleries(0)).find((g) => g.name === 'ffsec_body_objects')?.model as string;
      const metas: Array<GalleryRecord['meta']> = [{ score: 0.1, big: 2 ** 40, neg: -3 }, { label: 'a "quoted" \\ / é ✓', ok: true }, {}, { ts: 1_700_000_000 }, { x: 1.5e-7 }];
      await shards.insert('ffsec_body_objects', model, metas.map((meta, i) => ({ id: 1000 + i, feat: randomVector(DIM), norm: `body/${i}.jpg`, meta })));
    } finally {
      shards.close();
    }
    before = await digests(state);
  }, 180_000);

  afterAll(async () => {
    console.log(`storage-api shims: ${JSON.stringify(timings)} (ms)`);
    await cleanRoot(root);
  }, 60_000);

  it('dumps every gallery into <gallery>.json in the agent\'s line format', async () => {
    const run = await shim(state, 'findface-storage-api-dump', [`-output-dir=${DUMP}`, '-config', ini]);
    timings.dump = run.ms;
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/dumped 8 galleries, \d+ records from 2 shards/);
    expect(readdirSync(DUMP).sort()).toEqual(GALLERIES.map((g) => `${g}.json`).sort());
    const counts = countsOf(before);
    expect(counts.ffsec_face_objects).toBeGreaterThan(0);
    expect(counts.ffsec_face_events).toBe(60);
    expect(counts.ffsec_body_objects).toBe(5);
    for (const gallery of GALLERIES) {
      const lines = linesOf(path.join(DUMP, `${gallery}.json`));
      expect(lines, gallery).toHaveLength(counts[gallery] ?? -1);
      // Shard 0's records first, then shard 1's, each in ascending id order, and each shard's lines hash
      // to the agent's digest of the gallery there: the same lines, byte for byte.
      const ids = lines.map(idOf);
      const shardOf = ids.map((id) => shardIndexOf(id, 2));
      expect(shardOf).toEqual([...shardOf].sort());
      state.shards.forEach((s, i) => {
        const own = lines.filter((_, k) => shardOf[k] === i);
        expect(own.map(idOf)).toEqual(own.map(idOf).sort((a, b) => a - b));
        const sha = createHash('sha256').update(own.map((l) => `${l}\n`).join('')).digest('hex');
        expect(sha, `${gallery} on ${s.name}`).toBe(before[s.name]?.[gallery]?.sha256);
      });
    }
    const first = JSON.parse(linesOf(path.join(DUMP, 'ffsec_face_objects.json'))[0] as string) as Record<string, unknown>;
    expect(Object.keys(first)).toEqual(['id', 'feat', 'norm', 'meta']);
    expect(Buffer.from(first.feat as string, 'base64')).toHaveLength(DIM * 4);
    // Tarantool's JSON escapes '/', numbers that are no integers keep 17 digits, meta keys are sorted.
    const body = linesOf(path.join(DUMP, 'ffsec_body_objects.json'));
    expect(body[0]).toMatch(/^\{"id":1000,"feat":"[A-Za-z0-9+/]+=*","norm":"body\\\/0\.jpg","meta":\{"big":1099511627776,"neg":-3,"score":0\.10000000000000001\}\}$/);
  }, 180_000);

  it('restores emptied galleries, resumes a run stopped by a broken line, and ends where the site began', async () => {
    await truncateGalleries(state);
    expect(Object.values(countsOf(await digests(state))).every((n) => n === 0)).toBe(true);
    // The run's copy of the dump, with ffsec_face_events.json cut inside line 35 (as a copy stopped midway).
    const dir = path.join(root, 'restore');
    mkdirSync(dir);
    for (const g of GALLERIES) copyFileSync(path.join(DUMP, `${g}.json`), path.join(dir, `${g}.json`));
    const events = path.join(dir, 'ffsec_face_events.json');
    const full = linesOf(events);
    writeFileSync(events, `${full.slice(0, 34).join('\n')}\n${(full[34] as string).slice(0, 50)}`);
    const files = GALLERIES.map((g) => path.join(dir, `${g}.json`)).sort();

    const stopped = await shim(state, 'findface-storage-api-restore', ['-config', ini, '-batch-size', '10', ...files]);
    timings.restoreStopped = stopped.ms;
    expect(stopped.code).toBe(2);
    expect(stopped.stderr).toContain(`${events} line 35: not a JSON record`);
    // Batches of 10 lines: lines 1-30 are in; the batch holding line 35 went nowhere; later files not started.
    let counts = countsOf(await digests(state));
    expect(counts.ffsec_face_events).toBe(30);
    expect(counts.ffsec_body_objects).toBe(5);
    expect(counts.ffsec_face_objects).toBe(0);
    // A record among the lines already taken goes missing: a run that resumes does not send it again.
    const gone = idOf(full[4] as string);
    const shards = await ShardSet.connect(state.shards);
    try {
      expect(await shards.delete('ffsec_face_events', [gone])).toBe(1);
    } finally {
      shards.close();
    }

    writeFileSync(events, `${full.join('\n')}\n`);
    const resumed = await shim(state, 'findface-storage-api-restore', ['-config=' + ini, '-batch-size=10', ...files]);
    timings.restoreResumed = resumed.ms;
    expect(resumed.stderr).toBe('');
    expect(resumed.code).toBe(0);
    expect(resumed.stdout).toContain(`${events}: resuming (shard-001 after line 30, shard-002 after line 30)`);
    expect(resumed.stdout).toContain(`${events} → ffsec_face_events: 30 records restored, 30 skipped (restored by an interrupted run)`);
    expect(resumed.stdout).toContain('ffsec_body_objects: 0 records restored, 5 skipped');
    expect(resumed.stdout).toMatch(/restored 8 files, \d+ records into 2 shards/);
    counts = countsOf(await digests(state));
    expect(counts.ffsec_face_events).toBe(59);

    // That run finished: its progress is gone, so the next restore of a file loads all of it again.
    const again = await shim(state, 'findface-storage-api-restore', ['-config', ini, events]);
    timings.restoreAgain = again.ms;
    expect(again.code).toBe(0);
    expect(again.stdout).toContain(`${events} → ffsec_face_events: 60 records restored\n`);

    const report = await checkSite(state);
    expect(report.issues).toEqual([]);
    expect(report.ok).toBe(true);
    expect(await digests(state)).toEqual(before);
    // And a second dump (the other flag spellings) is the first, byte for byte.
    const dump2 = path.join(root, 'dump2');
    expect((await shim(state, 'findface-storage-api-dump', ['--output-dir', dump2, `--config=${ini}`])).code).toBe(0);
    for (const g of GALLERIES) expect(readFileSync(path.join(dump2, `${g}.json`)).equals(readFileSync(path.join(DUMP, `${g}.json`))), g).toBe(true);
  }, 180_000);

  it('refuses bad arguments, unknown shards, missing galleries and bad vectors, naming them', async () => {
    const bad = path.join(root, 'bad');
    mkdirSync(bad);
    const objects = linesOf(path.join(DUMP, 'ffsec_face_objects.json'));
    const short = JSON.parse(objects[1] as string) as { id: number; feat: string };
    const shortFile = path.join(bad, 'ffsec_face_objects.json');
    writeFileSync(shortFile, `${objects[0]}\n${(objects[1] as string).replace(short.feat, short.feat.slice(8))}\n`);
    writeFileSync(path.join(bad, 'nosuch_gallery.json'), `${objects[0]}\n`);
    const otherIni = path.join(bad, 'sf-api.ini');
    writeFileSync(otherIni, readFileSync(ini, 'utf8').replace(/127\.0\.0\.1:\d+\/v2\//, '127.0.0.1:1/v2/'));
    const restore = (...args: string[]): Promise<Run> => shim(state, 'findface-storage-api-restore', args);
    const cases: Array<[string, Promise<Run>, number, RegExp]> = [
      ['no -config', restore(shortFile), 2, /-config is required/],
      ['an unknown flag', shim(state, 'findface-storage-api-dump', ['-bogus', '-config', ini]), 2, /flag provided but not defined: -bogus/],
      ['no -output-dir', shim(state, 'findface-storage-api-dump', ['-config', ini]), 2, /-output-dir is required/],
      ['a flag without its value', restore('-config'), 2, /flag needs an argument: -config/],
      ['no files', restore('-config', ini), 2, /no files to restore/],
      ['an unreadable file', restore('-config', ini, path.join(bad, 'absent.json')), 3, /cannot read .*absent\.json/],
      ['an unknown shard port', restore('-config', otherIni, shortFile), 2, /storage-api shard http:\/\/127\.0\.0\.1:1\/v2\/ .*no Tarantool instance file .* port 1$/m],
      ['a missing gallery', restore('-config', ini, path.join(bad, 'nosuch_gallery.json')), 3, /gallery 'nosuch_gallery' .* does not exist on shard-001/],
      ['a short vector', restore('-config', ini, shortFile), 2, new RegExp(`${shortFile} line 2 \\(id ${short.id}\\): vector of ${DIM * 4 - 6} bytes, .* expects ${DIM * 4}`)],
    ];
    for (const [what, run, code, message] of cases) {
      const r = await run;
      expect(r.stderr, what).toMatch(message);
      expect(r.code, what).toBe(code);
    }
    expect(await digests(state)).toEqual(before);
  }, 180_000);
});
