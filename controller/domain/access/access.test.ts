import { describe, expect, it } from 'vitest';
import { PermissionDeniedError } from '../../../shared/errors.js';
import { auditArgs, chainHash, formatAnchor, GENESIS, HeadKeepingAuditLog, parseAnchor, verifyChain, type AuditAnchor, type AuditEntry, type AuditHeadStore, type AuditLog, type AuditRecord } from './audit.js';
import { authorizeCall, METHOD_POLICIES, type AccessConfig } from './policy.js';

const access: AccessConfig = {
  operators: { vera: { role: 'viewer' }, otto: { role: 'operator' }, sam: { role: 'operator', sites: ['spb-1'] }, ada: { role: 'admin' } },
  scratchSites: ['lab-1'],
};
const deny = (op: string, method: string, req: Record<string, unknown>): string => {
  try {
    authorizeCall(access, op, method, req);
  } catch (err) {
    expect(err).toBeInstanceOf(PermissionDeniedError);
    return (err as Error).message;
  }
  throw new Error(`${op} was allowed to call ${method}`);
};

describe('roles', () => {
  it('viewer: reads only', () => {
    expect(authorizeCall(access, 'vera', 'listSnapshots', { site: 'msk-1' }).mutating).toBe(false);
    expect(deny('vera', 'restore', { site: 'msk-1' })).toBe('operator vera (viewer) may not call restore: it needs admin (site \'msk-1\' is not a scratch site)');
    expect(deny('vera', 'deleteSnapshot', { site: 'msk-1', id: 'c-1' })).toBe('operator vera (viewer) may not call deleteSnapshot: it needs admin');
    expect(deny('vera', 'applyRetention', { site: 'msk-1' })).toBe('operator vera (viewer) may not call applyRetention: it needs admin');
    expect(deny('vera', 'createSnapshot', { site: 'msk-1' })).toBe('operator vera (viewer) may not call createSnapshot: it needs operator');
  });
  it('operator: snapshots, verify, sync; restores into a scratch site only', () => {
    for (const m of ['createSnapshot', 'verify', 'setSchedule']) expect(authorizeCall(access, 'otto', m, { site: 'msk-1' }).needed).toBe('operator');
    expect(authorizeCall(access, 'otto', 'createSyncLink', { fromSite: 'msk-1', toSite: 'spb-1' }).sites).toEqual(['msk-1', 'spb-1']);
    expect(authorizeCall(access, 'otto', 'restore', { site: 'msk-1', toSite: 'lab-1' }).needed).toBe('operator');
    expect(deny('otto', 'restore', { site: 'msk-1' })).toContain("it needs admin (site 'msk-1' is not a scratch site)");
    expect(deny('otto', 'deleteSyncLink', { id: 'msk-1.1.spb-1.2' })).toBe('operator otto (operator) may not call deleteSyncLink: it needs admin');
  });
  it('admin: everything; unknown operators and unknown methods: nothing', () => {
    for (const m of Object.keys(METHOD_POLICIES)) expect(() => authorizeCall(access, 'ada', m, { site: 'msk-1' })).not.toThrow();
    expect(deny('eve', 'listSites', {})).toBe('operator eve has no role on this controller (access.operators); listSites denied');
    expect(deny('ada', 'dropEverything', {})).toBe('operator ada: dropEverything is not a call operators may make');
  });
  it('site-scoped grants cover the sites a call names, link ids included', () => {
    expect(authorizeCall(access, 'sam', 'createSnapshot', { site: 'spb-1' }).sites).toEqual(['spb-1']);
    expect(deny('sam', 'createSnapshot', { site: 'msk-1' })).toBe("operator sam (operator of spb-1) may not call createSnapshot for site 'msk-1'");
    expect(deny('sam', 'checkSyncLink', { id: 'msk-1.1.spb-1.2' })).toContain("for site 'msk-1'");
    expect(deny('sam', 'createSyncLink', { fromSite: 'msk-1', toSite: 'spb-1' })).toContain("for site 'msk-1'");
  });
});

function chain(records: AuditRecord[]): AuditEntry[] {
  let prev = GENESIS;
  return records.map((r, i) => {
    const hash = chainHash(prev, r);
    const e = { ...r, seq: i + 1, prev, hash };
    prev = hash;
    return e;
  });
}
const rec = (method: string, who = 'operator ada'): AuditRecord => ({ at: '2026-12-03T07:00:00.000Z', who, from: 'ipv4:127.0.0.1:5000', method, sites: ['msk-1'], args: { site: 'msk-1' }, outcome: 'ok' });

describe('audit chain', () => {
  it('an intact chain verifies', () => {
    expect(verifyChain(chain([rec('createSnapshot'), rec('restore'), rec('deleteSnapshot')]))).toMatchObject({ records: 3, problems: [] });
  });
  it('names a changed record', () => {
    const entries = chain([rec('createSnapshot'), rec('restore'), rec('deleteSnapshot')]);
    entries[1] = { ...(entries[1] as AuditEntry), who: 'operator vera' };
    expect(verifyChain(entries).problems).toEqual(['record #2 (2026-12-03T07:00:00.000Z, operator vera, restore) was changed: its content does not match its hash']);
  });
  it('names a removed record, and a record rewritten to hide it', () => {
    const entries = chain([rec('createSnapshot'), rec('restore'), rec('deleteSnapshot')]);
    const gap = [entries[0], entries[2]] as AuditEntry[];
    expect(verifyChain(gap).problems).toEqual(['records #2 are missing before record #3 (2026-12-03T07:00:00.000Z, operator ada, deleteSnapshot): removed from the stream']);
    const relinked = { ...(entries[2] as AuditEntry), prev: (entries[0] as AuditEntry).hash, seq: 2 };
    relinked.hash = chainHash(relinked.prev, relinked);
    // Re-chained and renumbered, a tail would pass: JetStream numbers messages itself, so the gap stays visible.
    expect(verifyChain([entries[0] as AuditEntry, relinked]).problems).toEqual([]);
  });
  it('reports the head as an anchor, and an anchor no longer matching after the whole chain was rewritten', () => {
    const entries = chain([rec('createSnapshot'), rec('restore'), rec('deleteSnapshot')]);
    const head = verifyChain(entries).head;
    expect(head).toEqual({ seq: 3, hash: (entries[2] as AuditEntry).hash });
    expect(parseAnchor(formatAnchor(head as AuditAnchor))).toEqual(head);
    expect(verifyChain(entries, 1, [head as AuditAnchor]).problems).toEqual([]);
    // Every record rewritten from the first on, every hash recomputed: the chain alone verifies, the anchor does not.
    const forged = chain([rec('createSnapshot'), rec('restore', 'operator eve'), rec('deleteSnapshot')]);
    expect(verifyChain(forged).problems).toEqual([]);
    expect(verifyChain(forged, 1, [head as AuditAnchor]).problems).toEqual([
      `record #3 (2026-12-03T07:00:00.000Z, operator ada, deleteSnapshot) has hash ${(forged[2] as AuditEntry).hash.slice(0, 16)}…, not the anchored ${(head as AuditAnchor).hash.slice(0, 16)}…: the trail was rewritten up to it`,
    ]);
    expect(verifyChain(forged.slice(0, 2), 1, [head as AuditAnchor]).problems).toEqual(['anchored record #3 is not in the stream (it holds #1–#2): removed']);
    expect(verifyChain([]).head).toBeUndefined();
    for (const bad of ['3', '0:' + 'a'.repeat(64), '3:' + 'A'.repeat(64), '3:abc']) expect(parseAnchor(bad)).toBeUndefined();
  });
  it('keeps secrets out of the arguments', () => {
    expect(auditArgs({ site: 'msk-1', password: 'x', repositoryToken: 't', apiKey: 'k', nested: { secret: 's', ok: 1 }, empty: '' })).toEqual({ site: 'msk-1', nested: { ok: 1 } });
  });
});

describe('HeadKeepingAuditLog', () => {
  /** An in-memory trail whose appends finish in the order given by `delays` (ms), to race the head writes. */
  function fakes(delays: number[] = []): { inner: AuditLog; store: AuditHeadStore; written: AuditAnchor[]; failWrites: { on: boolean } } {
    const stored: AuditEntry[] = [];
    let prev = GENESIS;
    const written: AuditAnchor[] = [];
    const failWrites = { on: false };
    const inner: AuditLog = {
      async append(r) {
        const e = { ...r, seq: stored.length + 1, prev, hash: chainHash(prev, r) };
        prev = e.hash;
        stored.push(e);
        await new Promise((res) => setTimeout(res, delays[e.seq - 1] ?? 0));
        return e;
      },
      entries: () => Promise.resolve({ entries: [...stored], firstSeq: 1 }),
    };
    const store: AuditHeadStore = {
      read: () => Promise.resolve(written.at(-1)),
      write: (h) => (failWrites.on ? Promise.reject(new Error('disk full')) : Promise.resolve(void written.push(h))),
    };
    return { inner, store, written, failWrites };
  }

  it('keeps the head of every append, never an older one after a newer', async () => {
    const { inner, store, written } = fakes([30, 0, 10]);
    const log = new HeadKeepingAuditLog(inner, store, () => undefined);
    await Promise.all([log.append(rec('a')), log.append(rec('b')), log.append(rec('c'))]);
    const { entries } = await log.entries();
    expect(await log.keptHead()).toEqual({ seq: 3, hash: entries[2]?.hash });
    expect(written.map((h) => h.seq)).toEqual([...written.map((h) => h.seq)].sort((a, b) => a - b));
    expect(verifyChain(entries, 1, [(await log.keptHead()) as AuditAnchor]).problems).toEqual([]);
  });

  it('a head that cannot be kept is reported; the append still succeeds', async () => {
    const { inner, store, failWrites } = fakes();
    const errors: string[] = [];
    const log = new HeadKeepingAuditLog(inner, store, (err) => errors.push((err as Error).message));
    await log.append(rec('a'));
    failWrites.on = true;
    const e = await log.append(rec('b'));
    expect(e.seq).toBe(2);
    expect(errors).toEqual(['disk full']);
    expect((await log.keptHead())?.seq).toBe(1);
  });
});
