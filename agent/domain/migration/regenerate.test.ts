import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { agentConfigSchema } from '../../../shared/config/agent.js';
import type { FaceSource, FaceSourceGallery } from '../../../shared/migration/ops.js';
import { asideDirOf, faceSources, normalizedAside, regenerate, type RegenerateHost } from './regenerate.js';

const UPLOADS = '/var/lib/findface-security/uploads';
const FFUPLOAD = '/var/lib/ffupload';

/** Files as a map of path → bytes; a hard link shares the Buffer (as it shares the inode). */
class MemoryHost implements RegenerateHost {
  files = new Map<string, Buffer>();
  detected = 0;
  rows: FaceSource[] = [];
  faceSources(_db: unknown, gallery: FaceSourceGallery, after: string, limit: number): Promise<FaceSource[]> {
    return Promise.resolve(this.rows.filter((r) => r.gallery === gallery && (after === '' || Number(r.id) > Number(after))).slice(0, limit));
  }
  detect(_url: string, photos: readonly Buffer[]): Promise<{ detector: string; results: { normalized?: string; error?: string }[] }> {
    this.detected += photos.length;
    return Promise.resolve({ detector: 'detector/d2.cpu.fnk', results: photos.map((p) => (p.toString() === 'blurred' ? { error: 'no face detected' } : { normalized: Buffer.from(`n2(${p.toString()})`).toString('base64') })) });
  }
  readBytes(file: string): Promise<Buffer | undefined> {
    return Promise.resolve(this.files.get(file));
  }
  writeBytes(file: string, data: Uint8Array): Promise<void> {
    this.files.set(file, Buffer.from(data));
    return Promise.resolve();
  }
  link(existing: string, file: string): Promise<boolean> {
    const b = this.files.get(existing);
    if (b) this.files.set(file, b);
    return Promise.resolve(b !== undefined);
  }
  exists(file: string): Promise<boolean> {
    return Promise.resolve(this.files.has(file));
  }
  rename(from: string, to: string): Promise<void> {
    const b = this.files.get(from);
    if (!b) return Promise.reject(new Error(`ENOENT: ${from}`));
    this.files.set(to, b);
    this.files.delete(from);
    return Promise.resolve();
  }
  filesUnder(dir: string): Promise<string[]> {
    return Promise.resolve([...this.files.keys()].filter((f) => f.startsWith(`${dir}/`)).map((f) => path.relative(dir, f)).sort());
  }
  remove(file: string): Promise<void> {
    for (const f of [...this.files.keys()]) if (f === file || f.startsWith(`${file}/`)) this.files.delete(f);
    return Promise.resolve();
  }
  text(file: string): string | undefined {
    return this.files.get(file)?.toString();
  }
}

const config = agentConfigSchema.parse({
  site: 'msk-1',
  host: 'files',
  nats: { servers: ['nats://127.0.0.1:4222'] },
  insecure: true,
  components: [{ kind: 'uploads', paths: [UPLOADS, FFUPLOAD] }, { kind: 'postgres' }],
});

const face = (id: number, gallery: FaceSourceGallery = 'ffsec_face_objects'): FaceSource => ({ gallery, id: String(id), source: `dossier_faces/000000/${id}_photo.jpg`, normalized: `dossier_faces/000000/${id}.jpg` });

function seeded(n: number): MemoryHost {
  const host = new MemoryHost();
  for (let id = 1; id <= n; id++) {
    const f = face(id);
    host.rows.push(f);
    host.files.set(`${UPLOADS}/${f.source}`, Buffer.from(`photo${id}`));
    host.files.set(`${FFUPLOAD}/${f.normalized}`, Buffer.from(`n1(${id})`));
  }
  return host;
}

const req = (faces: FaceSource[]) => ({ migration: 'j-1', faces, extractionApiUrl: 'http://127.0.0.1:18666', batchSize: 2, workers: 2 });
const aside = asideDirOf(FFUPLOAD, 'j-1');

describe('regeneration of normalized images (reference 003)', () => {
  it('pages the faces of a gallery from the database in record id order', async () => {
    const host = seeded(5);
    host.rows.push(face(2, 'ffsec_face_events'));
    const p1 = await faceSources(config, host, { gallery: 'ffsec_face_objects', after: '', limit: 3 });
    expect(p1.faces.map((f) => f.id)).toEqual(['1', '2', '3']);
    expect(p1.done).toBe(false);
    const p2 = await faceSources(config, host, { gallery: 'ffsec_face_objects', after: '3', limit: 3 });
    expect(p2).toMatchObject({ done: true, faces: [{ id: '4' }, { id: '5' }] });
  });

  it('makes each normalized image again from its source photo and keeps the one it replaced; asked again, the first one stays kept', async () => {
    const host = seeded(4);
    const r = await regenerate(config, host, req(host.rows));
    expect(r).toMatchObject({ op: 'regenerate', detector: 'detector/d2.cpu.fnk', regenerated: 4, failed: [] });
    for (let id = 1; id <= 4; id++) {
      expect(host.text(`${FFUPLOAD}/dossier_faces/000000/${id}.jpg`)).toBe(`n2(photo${id})`);
      expect(host.text(`${aside}/dossier_faces/000000/${id}.jpg`)).toBe(`n1(${id})`);
    }
    // A resumed job asks for a batch again: the kept image is still the original, not the regenerated one.
    await regenerate(config, host, req(host.rows.slice(0, 2)));
    expect(host.text(`${aside}/dossier_faces/000000/1.jpg`)).toBe('n1(1)');
  });

  it('lists a face whose source photo is missing or in which the detector finds no face; the rest are regenerated', async () => {
    const host = seeded(3);
    host.files.delete(`${UPLOADS}/${face(2).source}`);
    host.files.set(`${UPLOADS}/${face(3).source}`, Buffer.from('blurred'));
    const r = await regenerate(config, host, req(host.rows));
    expect(r.regenerated).toBe(1);
    expect(r.failed).toEqual([
      { gallery: 'ffsec_face_objects', id: '2', reason: expect.stringContaining(`source photo ${face(2).source}: missing`) },
      { gallery: 'ffsec_face_objects', id: '3', reason: 'detector detector/d2.cpu.fnk: no face detected' },
    ]);
    // Untouched: the failed faces keep their normalized image, and nothing of theirs is kept aside.
    expect(host.text(`${FFUPLOAD}/${face(3).normalized}`)).toBe('n1(3)');
    expect(await host.filesUnder(aside)).toEqual(['dossier_faces/000000/1.jpg']);
  });

  it('lists a face whose path leaves its upload root, and neither reads nor writes it', async () => {
    const host = seeded(2);
    host.files.set('/etc/photo.jpg', Buffer.from('outside'));
    const r = await regenerate(config, host, req([{ ...face(1), normalized: '../../etc/passwd' }, { ...face(2), source: '../../../etc/photo.jpg' }]));
    expect(r.failed).toEqual([
      { gallery: 'ffsec_face_objects', id: '1', reason: "normalized image '../../etc/passwd' is not a path inside /var/lib/ffupload" },
      { gallery: 'ffsec_face_objects', id: '2', reason: "source photo '../../../etc/photo.jpg' is not a path inside /var/lib/findface-security/uploads" },
    ]);
    expect(host.detected).toBe(0);
    expect(host.files.has('/etc/passwd')).toBe(false);
  });

  it('puts the kept images back for a rollback, or removes them for a finish', async () => {
    const host = seeded(3);
    await regenerate(config, host, req(host.rows));
    expect(await normalizedAside(config, host, { migration: 'j-1', action: 'restore' })).toEqual({ op: 'normalized-aside', dir: aside, files: 3 });
    for (let id = 1; id <= 3; id++) expect(host.text(`${FFUPLOAD}/dossier_faces/000000/${id}.jpg`)).toBe(`n1(${id})`);
    expect(await host.filesUnder(aside)).toEqual([]);

    await regenerate(config, host, req(host.rows));
    expect(await normalizedAside(config, host, { migration: 'j-1', action: 'remove' })).toMatchObject({ files: 3 });
    expect(host.text(`${FFUPLOAD}/dossier_faces/000000/1.jpg`)).toBe('n2(photo1)');
    expect(await host.filesUnder(aside)).toEqual([]);
  });

  it('names what is missing on an agent without upload directories', async () => {
    const noUploads = agentConfigSchema.parse({ site: 'msk-1', host: 'db', nats: { servers: ['nats://127.0.0.1:4222'] }, insecure: true, components: [{ kind: 'postgres' }] });
    await expect(regenerate(noUploads, new MemoryHost(), req([face(1)]))).rejects.toThrow("agent msk-1/db holds no upload directories (no 'uploads' component)");
  });
});
