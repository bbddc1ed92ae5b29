import { describe, expect, it } from 'vitest';
import type { Logger } from '../../../shared/logger.js';
import type { SyncLink } from '../../../shared/sync/link.js';
import { decodeMessage, encodeMessage, type DossierMessage, type RecordEntry } from './messages.js';
import type { PartContext } from './part.js';
import type { PositionStore, RecordsAccess, SyncBus } from './ports.js';
import { publishRecordsSpec } from './publishers.js';

const LINK: SyncLink = { id: 'm.1.s.2', number: 1, from: { site: 'm', list: 1 }, to: { site: 's', list: 2 }, mode: 'continuous', at: '03:00', timezone: 'UTC', paused: false, createdAt: '2026-12-01T00:00:00Z', models: {} };

const record = (id: number): RecordEntry => ({ gallery: 'ffsec_face_objects', model: 'face-mango-512', dim: 512, id, feat: 'AAAA', norm: `dossier_faces/${id}.jpg`, meta: {} });

const face = (recordId: number) => ({ id: recordId, sourcePhoto: `s${recordId}.jpg`, thumbnail: `t${recordId}.jpg`, normalized: `n${recordId}.jpg`, recordId, model: 'face-mango-512', createdDate: 'c' });

describe('publish-records', () => {
  it("publishes each dossier with the records its shards hold, and warns naming how many of the rows' records were not there", async () => {
    const published: { subject: string; data: Uint8Array }[] = [];
    const warnings: { fields: Record<string, unknown>; msg: string }[] = [];
    const logger = { warn: (fields: Record<string, unknown>, msg: string) => warnings.push({ fields, msg }), debug: () => undefined, info: () => undefined } as unknown as Logger;
    const bus = { publish: (subject: string, data: Uint8Array) => (published.push({ subject, data }), Promise.resolve(published.length)) } as unknown as SyncBus;
    const ctx: PartContext = { bus, site: 'm', host: 'tnt', logger };
    // The shards hold record 1 and 3; the rows also name 2 (a face deleted since its dossier's message).
    const records: RecordsAccess = { read: (ids) => Promise.resolve(ids.filter((id) => id !== 2).map(record)), apply: () => Promise.resolve(), close: () => Promise.resolve() };
    const positions: PositionStore = { get: () => Promise.resolve({ position: 0, extra: {} }), set: () => Promise.resolve() };
    const spec = publishRecordsSpec(ctx, LINK, records, positions);
    const dossier = (dossierId: number, recordIds: number[]): DossierMessage => ({ kind: 'dossier', dossierId, capturedAt: `t${dossierId}`, state: { dossier: { name: `d${dossierId}`, comment: '', active: true, createdDate: 'c', modifiedDate: 'm' }, faces: recordIds.map(face) } });
    const batch = [dossier(10, [1, 2]), dossier(11, [3])].map((m, i) => ({ seq: i + 1, subject: `ffk.sync.m.1.dossier.${m.dossierId}`, data: encodeMessage(m), pending: 1 - i }));

    expect(await spec.handle(batch)).toBe('t11');

    const sent = published.map((p) => decodeMessage(p.data, p.subject)).map((m) => (m.kind === 'records' ? [m.dossierId, m.records.map((r) => r.id)] : m.kind));
    expect(sent).toEqual([[10, [1]], [11, [3]]]);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.fields).toMatchObject({ link: 'm.1.s.2', missing: 1, of: 3, sample: [2] });
    expect(warnings[0]?.msg).toMatch(/^sync: records the master's rows name are not on its shards/);

    // Every record there: nothing to say.
    warnings.length = 0;
    await spec.handle([{ seq: 3, subject: 'ffk.sync.m.1.dossier.11', data: encodeMessage(dossier(11, [3])), pending: 0 }]);
    expect(warnings).toEqual([]);
  });
});
