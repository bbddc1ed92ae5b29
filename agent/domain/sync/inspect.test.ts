import { describe, expect, it } from 'vitest';
import { replicaId, replicaPath } from '../../../shared/sync/link.js';
import { inspect, type ListAccess } from './inspect.js';
import type { DossierMessage, RecordEntry } from './messages.js';
import type { FilesAccess, RecordsAccess } from './ports.js';

type State = NonNullable<DossierMessage['state']>;
const dossier = { name: 'P', comment: 'c', active: true, createdDate: 'd1', modifiedDate: 'd2' };
const masterFace = { id: 7, sourcePhoto: 'f/7_photo.jpg', thumbnail: 'f/7_thumb.jpg', normalized: 'f/7.jpg', recordId: 7, model: 'face-v1', createdDate: 'd1' };
const N = 2;
const slaveFace = { ...masterFace, id: replicaId(N, 7), recordId: replicaId(N, 7), sourcePhoto: replicaPath('m', masterFace.sourcePhoto), thumbnail: replicaPath('m', masterFace.thumbnail), normalized: replicaPath('m', masterFace.normalized) };

function lists(content: Map<number, State>): () => ListAccess {
  return () => ({ list: () => Promise.resolve(content), lists: () => Promise.resolve([]), requeue: (_l, ids) => Promise.resolve(ids.length), close: () => Promise.resolve() });
}

function records(recs: RecordEntry[]): () => RecordsAccess {
  return () => ({ read: (ids) => Promise.resolve(recs.filter((r) => ids.includes(r.id))), apply: () => Promise.resolve(), close: () => Promise.resolve() });
}

describe('sync inspect', () => {
  it("gives a slave's replica the same digests as the master's original", async () => {
    const m = await inspect({ rows: lists(new Map([[3, { dossier, faces: [masterFace] }]])) }, { what: 'rows', list: 1 });
    const s = await inspect({ rows: lists(new Map([[replicaId(N, 3), { dossier, faces: [slaveFace] }], [99, { dossier, faces: [] }]])) }, { what: 'rows', list: 2, replica: { number: N, masterSite: 'm' } });
    expect(m.items).toEqual([{ key: 'dossier:3', digest: expect.any(String), recordIds: [7], files: ['uploads:f/7_photo.jpg', 'uploads:f/7_thumb.jpg', 'ffupload:f/7.jpg'] }]);
    expect(s.items.find((i) => i.key === 'dossier:3')).toEqual(m.items[0]);
    // The slave's own dossier in the replica list is reported, to show up as extra.
    expect(s.items.find((i) => i.key === 'dossier:local-99')).toBeDefined();
  });

  it('maps record ids, paths and meta back before digesting', async () => {
    const rec: RecordEntry = { gallery: 'ffsec_face_objects', model: 'face-v1', dim: 1, id: 7, feat: 'AAAA', norm: 'f/7.jpg', meta: { face_id: 7, dossier_id: 3 } };
    const replica: RecordEntry = { ...rec, id: replicaId(N, 7), norm: replicaPath('m', 'f/7.jpg'), meta: { dossier_id: replicaId(N, 3), face_id: replicaId(N, 7) } };
    const m = await inspect({ records: records([rec]) }, { what: 'records', ids: [7] });
    const s = await inspect({ records: records([replica]) }, { what: 'records', ids: [7], replica: { number: N, masterSite: 'm' } });
    expect(s.items).toEqual(m.items);
    const changed = await inspect({ records: records([{ ...replica, feat: 'BBBB' }]) }, { what: 'records', ids: [7], replica: { number: N, masterSite: 'm' } });
    expect(changed.items[0]?.digest).not.toBe(m.items[0]?.digest);
  });

  it('hashes files at their replica path on the slave and leaves out missing ones', async () => {
    const seen: string[] = [];
    const files = (): FilesAccess => ({
      hash: (_root, rel) => {
        seen.push(rel);
        return Promise.resolve(rel.endsWith('7.jpg') ? 'h' : undefined);
      },
      digest: () => Promise.resolve(undefined),
      readChunk: () => Promise.resolve(undefined),
      write: () => Promise.resolve({ written: true }),
      remove: () => Promise.resolve(),
    });
    const r = await inspect({ files }, { what: 'files', files: [{ root: 'ffupload', rel: 'f/7.jpg' }, { root: 'uploads', rel: 'f/8.jpg' }], replica: { number: N, masterSite: 'm' } });
    expect(seen).toEqual(['ffk-sync/m/f/7.jpg', 'ffk-sync/m/f/8.jpg']);
    expect(r.items).toEqual([{ key: 'file:ffupload:f/7.jpg', digest: 'h' }]);
  });

  it('refuses what this agent does not hold', async () => {
    await expect(inspect({}, { what: 'rows', list: 1 })).rejects.toThrow(/holds no PostgreSQL database/);
  });
});
