import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../../shared/errors.js';
import { decodeMessage, encodeMessage, type SyncMessage } from './messages.js';

const face = { id: 7, sourcePhoto: 'dossier_faces/000000/7_photo.jpg', thumbnail: 'dossier_faces/000000/7_thumb.jpg', normalized: 'dossier_faces/000000/7.jpg', recordId: 7, model: 'face-v1', createdDate: '2026-12-01 10:00:00+00' };
const dossier = { name: 'Person 3', comment: '', active: true, createdDate: '2026-12-01 10:00:00+00', modifiedDate: '2026-12-01 10:00:00+00' };
const sha = 'a'.repeat(64);

describe('sync messages', () => {
  it.each<SyncMessage>([
    { kind: 'dossier', dossierId: 3, capturedAt: 't', state: { dossier, faces: [face] } },
    { kind: 'dossier', dossierId: 3, capturedAt: 't', state: null },
    { kind: 'records', dossierId: 3, capturedAt: 't', records: [{ gallery: 'ffsec_face_objects', model: 'face-v1', dim: 4, id: 7, feat: 'AAAA', norm: 'x.jpg', meta: { dossier_id: 3 } }] },
    { kind: 'files', dossierId: 3, capturedAt: 't', files: [{ root: 'uploads', rel: 'a/b.jpg', sha256: sha, size: 10 }], missing: [{ root: 'ffupload', rel: 'c.jpg' }] },
  ])('round-trips a $kind message', (m) => {
    expect(decodeMessage(encodeMessage(m), 'subj')).toEqual(m);
  });

  it.each([
    ['a path leaving its root', { kind: 'files', dossierId: 1, capturedAt: 't', files: [{ root: 'uploads', rel: '../../etc/passwd', sha256: sha, size: 1 }] }, /files\[0\]\.rel '\.\.\/\.\.\/etc\/passwd' is not a relative path/],
    ['an absolute path', { kind: 'dossier', dossierId: 1, capturedAt: 't', state: { dossier, faces: [{ ...face, normalized: '/etc/shadow' }] } }, /faces\[0\]\.normalized '\/etc\/shadow'/],
    ['an unknown root', { kind: 'files', dossierId: 1, capturedAt: 't', files: [{ root: 'etc', rel: 'a', sha256: sha, size: 1 }] }, /root 'etc' is not an upload root/],
    ['a bad digest', { kind: 'files', dossierId: 1, capturedAt: 't', files: [{ root: 'uploads', rel: 'a', sha256: 'xyz', size: 1 }] }, /sha256 is not a SHA-256/],
    ['an unknown kind', { kind: 'photos', dossierId: 1, capturedAt: 't' }, /kind 'photos' is not dossier, records or files/],
    ['a negative id', { kind: 'dossier', dossierId: -1, capturedAt: 't', state: null }, /dossierId is not an id/],
  ])('refuses %s, naming the field', (_what, raw, message) => {
    const data = new TextEncoder().encode(JSON.stringify(raw));
    expect(() => decodeMessage(data, 'ffk.sync.m.1.files.1')).toThrow(ValidationError);
    expect(() => decodeMessage(data, 'ffk.sync.m.1.files.1')).toThrow(message);
  });

  it('refuses a payload that is not JSON, naming the subject', () => {
    expect(() => decodeMessage(new TextEncoder().encode('{'), 'ffk.sync.m.1.dossier.9')).toThrow(/on 'ffk\.sync\.m\.1\.dossier\.9': payload is not JSON/);
  });
});
