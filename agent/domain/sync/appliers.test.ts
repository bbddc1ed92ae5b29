import { createHash } from 'node:crypto';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { syncSubject } from '../../../shared/names.js';
import type { SyncLink } from '../../../shared/sync/link.js';
import { applyFilesSpec } from './appliers.js';
import { encodeMessage, type FilesMessage, type UploadRootName } from './messages.js';
import type { PartContext } from './part.js';
import type { AppliedFiles, FilesAccess, PositionStore, StreamMessage, SyncBus, WriteOutcome } from './ports.js';

const LINK: SyncLink = { id: 'm.1.s.2', number: 1, from: { site: 'm', list: 1 }, to: { site: 's', list: 2 }, mode: 'continuous', at: '03:00', timezone: 'UTC', paused: false, createdAt: '2026-12-01T00:00:00Z', models: {} };
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** Upload roots in memory, `root:rel` → bytes. */
class MemoryFiles implements FilesAccess {
  readonly m = new Map<string, Uint8Array>();
  digest = (root: UploadRootName, rel: string) => Promise.resolve(this.m.has(`${root}:${rel}`) ? { sha256: sha(this.m.get(`${root}:${rel}`)!), size: this.m.get(`${root}:${rel}`)!.length } : undefined);
  readChunk = () => Promise.resolve(undefined);
  hash = (root: UploadRootName, rel: string) => Promise.resolve(this.m.has(`${root}:${rel}`) ? sha(this.m.get(`${root}:${rel}`)!) : undefined);
  write(root: UploadRootName, rel: string, data: Uint8Array, sha256: string): Promise<WriteOutcome> {
    if (sha(data) !== sha256) return Promise.resolve({ written: false, sha256: sha(data) });
    this.m.set(`${root}:${rel}`, data);
    return Promise.resolve({ written: true });
  }
  remove(root: UploadRootName, rel: string): Promise<void> {
    this.m.delete(`${root}:${rel}`);
    return Promise.resolve();
  }
}

class MemoryApplied implements AppliedFiles {
  readonly m = new Map<number, string[]>();
  get = (_link: string, ids: readonly number[]) => Promise.resolve(new Map(ids.flatMap((id) => (this.m.has(id) ? [[id, this.m.get(id)!] as const] : []))));
  set(_link: string, files: ReadonlyMap<number, readonly string[]>): Promise<void> {
    for (const [id, f] of files) this.m.set(id, [...f]);
    return Promise.resolve();
  }
}

const positions: PositionStore = { get: () => Promise.resolve({ position: 0, extra: {} }), set: () => Promise.resolve() };

describe('applyFilesSpec', () => {
  const master = new Map<string, Uint8Array>(['a', 'b', 'c', 'x'].map((n) => [`uploads:${n}.jpg`, new TextEncoder().encode(`photo ${n}`)]));
  const bus = { fetchFile: (_site: string, _list: number, r: { root: UploadRootName; rel: string }) => Promise.resolve(master.get(`${r.root}:${r.rel}`)) } as unknown as SyncBus;
  const ctx: PartContext = { bus, site: 's', host: 'files', logger: pino({ level: 'silent' }) };
  let seq = 0;
  const batch = (...msgs: [number, string[]][]): StreamMessage[] =>
    msgs.map(([dossierId, names]) => {
      const m: FilesMessage = { kind: 'files', dossierId, capturedAt: '2026-12-01T00:00:00Z', missing: [], files: names.map((n) => ({ root: 'uploads', rel: `${n}.jpg`, sha256: sha(master.get(`uploads:${n}.jpg`)!), size: master.get(`uploads:${n}.jpg`)!.length })) };
      return { seq: ++seq, subject: syncSubject('m', 1, 'files', dossierId), data: encodeMessage(m), pending: 0 };
    });
  const replica = (n: string): string => `ffk-sync/m/${n}.jpg`;

  it('puts each named file at its replica path, removes those a dossier no longer names, and remembers the current ones', async () => {
    const files = new MemoryFiles();
    const applied = new MemoryApplied();
    const spec = applyFilesSpec(ctx, LINK, files, positions, applied);
    await spec.handle(batch([1, ['a', 'b']], [2, ['x']]));
    expect([...files.m.keys()].sort()).toEqual([`uploads:${replica('a')}`, `uploads:${replica('b')}`, `uploads:${replica('x')}`]);
    expect(applied.m.get(1)).toEqual([`uploads:${replica('a')}`, `uploads:${replica('b')}`]);

    // Dossier 1 now names a and c (b left it); dossier 2 no longer names x, which dossier 3 names now (a face moved).
    await spec.handle(batch([1, ['a', 'c']], [2, []], [3, ['x']]));
    expect([...files.m.keys()].sort()).toEqual([`uploads:${replica('a')}`, `uploads:${replica('c')}`, `uploads:${replica('x')}`]);
    expect(applied.m.get(1)).toEqual([`uploads:${replica('a')}`, `uploads:${replica('c')}`]);
    expect(applied.m.get(2)).toEqual([]);
    expect(applied.m.get(3)).toEqual([`uploads:${replica('x')}`]);
  });
});
