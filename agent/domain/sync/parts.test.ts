import pino from 'pino';
import { describe, expect, it, vi } from 'vitest';
import type { SyncLink, SyncPartStatus } from '../../../shared/sync/link.js';
import { CapturePart } from './capture.js';
import { FollowPart } from './follow.js';
import { decodeMessage, type DossierMessage } from './messages.js';
import type { ChangeSource, StreamMessage, SyncBus } from './ports.js';

const LINK: SyncLink = { id: 'm.1.s.2', number: 1, from: { site: 'm', list: 1 }, to: { site: 's', list: 2 }, mode: 'continuous', at: '03:00', timezone: 'UTC', paused: false, createdAt: '2026-12-01T00:00:00Z', models: {} };
const logger = pino({ level: 'silent' });

/** An in-memory stream with the bus's follow semantics (retry a failing handler). */
class FakeBus {
  messages: { seq: number; subject: string; data: Uint8Array }[] = [];
  statuses: SyncPartStatus[] = [];
  failPublish = false;
  followedFrom: number[] = [];
  ensureStream = () => Promise.resolve();
  publish = (subject: string, data: Uint8Array): Promise<number> => {
    if (this.failPublish) return Promise.reject(new Error('nats down'));
    const seq = (this.messages.at(-1)?.seq ?? 0) + 1;
    this.messages.push({ seq, subject, data });
    return Promise.resolve(seq);
  };
  last = () => Promise.resolve(undefined);
  bounds = () => Promise.resolve({ first: this.messages[0]?.seq ?? 0, last: this.messages.at(-1)?.seq ?? 0 });
  putStatus = (s: SyncPartStatus) => {
    this.statuses.push(s);
    return Promise.resolve();
  };
  removeStatus = () => Promise.resolve();
  statusesOf = () => Promise.resolve([]);
  statuses_ = () => Promise.resolve([]);
  watchLinks = () => ({ stop: () => Promise.resolve() });
  /** Delivers what is there as batches of two. */
  follow = (_site: string, _filter: string, after: number, handler: (batch: StreamMessage[]) => Promise<void>) => {
    this.followedFrom.push(after);
    let stopped = false;
    const run = async () => {
      const all = this.messages.filter((x) => x.seq > after).map((m) => ({ ...m, pending: this.messages.at(-1)!.seq - m.seq }));
      for (let i = 0; i < all.length; i += 2) {
        for (;;) {
          if (stopped) return;
          try {
            await handler(all.slice(i, i + 2));
            break;
          } catch {
            await new Promise((r) => setTimeout(r, 5));
          }
        }
      }
    };
    const done = run();
    return { stop: async () => { stopped = true; await done; } };
  };
}

function bus(b: FakeBus): SyncBus {
  return { ...b, statuses: () => Promise.resolve([]) } as unknown as SyncBus;
}

describe('follow part', () => {
  it('replays the stream from the start when it ends below the stored position (a re-created stream), and says so', async () => {
    const fake = new FakeBus();
    for (let i = 0; i < 3; i++) await fake.publish(`ffk.sync.m.1.dossier.${i}`, new Uint8Array());
    const handled: number[] = [];
    const part = new FollowPart({ bus: bus(fake), site: 's', host: 'db', logger }, {
      link: LINK, role: 'apply-rows', filter: 'x',
      position: () => Promise.resolve(50),
      handle: (batch) => { handled.push(...batch.map((m) => m.seq)); return Promise.resolve(undefined); },
    });
    await vi.waitFor(() => expect(handled).toEqual([1, 2, 3]), { timeout: 10_000 });
    await part.stop();
    expect(fake.followedFrom).toEqual([0]);
    expect(part.status.current.resyncs).toBe(1);
    expect(part.status.current.resyncReason).toMatch(/ends at 3, below this part's position 50/);
  });

  it('retries a failing message, reports the error, and recovers', async () => {
    const fake = new FakeBus();
    await fake.publish('a', new Uint8Array());
    let fails = 2;
    const part = new FollowPart({ bus: bus(fake), site: 's', host: 'db', logger }, {
      link: LINK, role: 'apply-files', filter: 'x', position: () => Promise.resolve(0),
      handle: () => (fails-- > 0 ? Promise.reject(new Error('blob not there yet')) : Promise.resolve('t')),
    });
    await vi.waitFor(() => expect(part.status.current.handled).toBe(1), { timeout: 10_000 });
    await part.stop();
    expect(part.status.current).toMatchObject({ errors: 2, lastError: 'blob not there yet', handled: 1, position: 1, state: 'running', lastCapturedAt: 't' });
  });
});

class FakeSource implements ChangeSource {
  changes: { id: number; dossier: number }[] = [];
  lists = new Map<number, number[]>([[1, [10, 11]]]);
  acked: number[] = [];
  install = () => Promise.resolve();
  seed = (list: number) => {
    const ids = this.lists.get(list) ?? [];
    ids.forEach((d, i) => this.changes.push({ id: 100 + i, dossier: d }));
    return Promise.resolve(ids.length);
  };
  take = (limit: number) => {
    const batch = this.changes.slice(0, limit);
    return Promise.resolve({ ids: batch.map((c) => c.id), dossierIds: [...new Set(batch.map((c) => c.dossier))] });
  };
  read = (list: number, ids: readonly number[]) =>
    Promise.resolve(new Map(ids.map((id) => [id, (this.lists.get(list) ?? []).includes(id) ? { dossier: { name: `d${id}`, comment: '', active: true, createdDate: 'c', modifiedDate: 'm' }, faces: [] } : null])));
  noted = () => Promise.resolve();
  ack = (ids: readonly number[]) => {
    this.acked.push(...ids);
    this.changes = this.changes.filter((c) => !ids.includes(c.id));
    return Promise.resolve();
  };
  backlog = () => Promise.resolve(this.changes.length);
  close = () => Promise.resolve();
}

describe('capture part', () => {
  it('seeds the list, publishes each dossier on its subject, and forgets the changes only after publishing', async () => {
    const fake = new FakeBus();
    const source = new FakeSource();
    fake.failPublish = true;
    const part = new CapturePart({ bus: bus(fake), site: 'm', host: 'db', logger }, source, [LINK]);
    // Publishing fails: the part reports it, and the changes stay.
    await vi.waitFor(() => expect(fake.statuses.some((s) => s.state === 'error')).toBe(true), { timeout: 10_000 });
    expect(source.acked).toEqual([]);
    fake.failPublish = false;
    await vi.waitFor(() => expect(source.acked.sort()).toEqual([100, 101]), { timeout: 10_000 }); // after the retry pause
    await part.stop();
    expect(fake.messages.map((m) => m.subject).sort()).toEqual(['ffk.sync.m.1.dossier.10', 'ffk.sync.m.1.dossier.11']);
    const msg = decodeMessage(fake.messages[0]!.data, 'x') as DossierMessage;
    expect(msg.state?.dossier.name).toMatch(/^d1[01]$/);
  });
});
