/**
 * The direct files channel between a link's files agents (issue 15's initial-sync bar), with the run's
 * test PKI and real files, no NATS: the master's publish-files part and the slave's apply-files part
 * (their real specs) over a stand-in bus that records the files messages, the handshake answered in
 * process. A link's slave gets the named files over TLS, checked by SHA-256; another site's agent, and a
 * certificate of another CA, are refused; a file the list does not name (or outside the upload roots) is
 * not served; an unreachable listener means NATS, and the part's status says which path it used.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileAppliedFiles } from '../../agent/adapters/sync/applied-files.js';
import { FsFilesAccess } from '../../agent/adapters/sync/fs-files.js';
import { applyFilesSpec } from '../../agent/domain/sync/appliers.js';
import type { FollowSpec } from '../../agent/domain/sync/follow.js';
import { encodeMessage, type DossierMessage } from '../../agent/domain/sync/messages.js';
import type { PartContext } from '../../agent/domain/sync/part.js';
import type { FileRequest, FileServer, PositionStore, StreamMessage, SyncBus } from '../../agent/domain/sync/ports.js';
import { publishFilesSpec } from '../../agent/domain/sync/publishers.js';
import { TlsDirectFiles } from '../../agent/transport/direct-files.js';
import { PermissionDeniedError, UnreachableError } from '../../shared/errors.js';
import { createLogger } from '../../shared/logger.js';
import { freePort } from '../../shared/net.js';
import { syncSubject } from '../../shared/names.js';
import { initCaDir, issueInto } from '../../shared/security/pki.js';
import type { SyncLink } from '../../shared/sync/link.js';
import { replicaPath } from '../../shared/sync/link.js';
import { agentTls } from '../harness/pki.js';
import { tempDir } from '../harness/processes.js';

const log = createLogger({ name: 'test', level: 'silent' });
const MASTER = 'msk-1';
const SLAVE = 'spb-1';

const link: SyncLink = {
  id: `${MASTER}.1.${SLAVE}.2`,
  number: 1,
  from: { site: MASTER, list: 1 },
  to: { site: SLAVE, list: 2 },
  mode: 'continuous',
  at: '03:00',
  timezone: 'UTC',
  paused: false,
  createdAt: new Date().toISOString(),
  models: {},
};

/** The bus as the parts see it: messages kept per subject (last value), files over "NATS" counted. */
class StandInBus {
  readonly last = new Map<string, Uint8Array>();
  natsFetches = 0;
  private serve: FileServer | undefined;
  seq = 0;

  publish(subject: string, data: Uint8Array): Promise<number> {
    this.last.set(subject, data);
    return Promise.resolve(++this.seq);
  }
  serveFiles(_site: string, _list: number, serve: FileServer): { stop(): Promise<void> } {
    this.serve = serve;
    return { stop: () => Promise.resolve() };
  }
  async fetchFile(_site: string, _list: number, req: FileRequest): Promise<Uint8Array | undefined> {
    this.natsFetches++;
    return (await this.serve?.(req, 0, 1 << 30))?.data;
  }
  asBus(): SyncBus {
    return {
      publish: (s: string, d: Uint8Array) => this.publish(s, d),
      last: (_site: string, s: string) => Promise.resolve(this.last.get(s)),
      serveFiles: (site: string, list: number, serve: FileServer) => this.serveFiles(site, list, serve),
      fetchFile: (site: string, list: number, req: FileRequest) => this.fetchFile(site, list, req),
    } as unknown as SyncBus;
  }
}

class MemoryPositions implements PositionStore {
  private readonly m = new Map<string, { position: number; extra: Record<string, unknown> }>();
  get(key: string): Promise<{ position: number; extra: Record<string, unknown> }> {
    return Promise.resolve(this.m.get(key) ?? { position: 0, extra: {} });
  }
  set(key: string, position: number, extra: Record<string, unknown> = {}): Promise<void> {
    this.m.set(key, { position, extra });
    return Promise.resolve();
  }
}

function uploadTree(): { roots: { uploads: string; ffupload: string }; put(root: 'uploads' | 'ffupload', rel: string, data: Buffer): void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ffk-bulk-'));
  const roots = { uploads: path.join(dir, 'uploads'), ffupload: path.join(dir, 'ffupload') };
  return {
    roots,
    put(root, rel, data) {
      const f = path.join(roots[root], rel);
      mkdirSync(path.dirname(f), { recursive: true });
      writeFileSync(f, data);
    },
  };
}

function dossier(id: number, faces: { photo: string; thumb: string; norm: string }[]): DossierMessage {
  return {
    kind: 'dossier',
    dossierId: id,
    capturedAt: new Date().toISOString(),
    state: {
      dossier: { name: `d${id}`, comment: '', active: true, createdDate: '2026-01-01T00:00:00Z', modifiedDate: '2026-01-01T00:00:00Z' },
      faces: faces.map((f, i) => ({ id: id * 10 + i, sourcePhoto: f.photo, thumbnail: f.thumb, normalized: f.norm, recordId: id * 10 + i, model: 'm', createdDate: '2026-01-01T00:00:00Z' })),
    },
  };
}

function asStream(msgs: { subject: string; data: Uint8Array }[]): StreamMessage[] {
  return msgs.map((m, i) => ({ seq: i + 1, subject: m.subject, data: m.data, pending: msgs.length - i - 1 }));
}

const sha = (b: Buffer | Uint8Array): string => createHash('sha256').update(b).digest('hex');

describe('direct files channel', () => {
  const master = uploadTree();
  const bus = new StandInBus();
  const dossiers = Array.from({ length: 40 }, (_, i) => i + 1);
  const content = new Map<string, Buffer>();
  let masterDirect: TlsDirectFiles;
  let publish: FollowSpec;
  const tmp = tempDir('ffk-bulk-test-');

  beforeAll(async () => {
    for (const d of dossiers) {
      // One big photo among many small ones: frames of any size, many requests in flight.
      const files = { photo: `dossier_faces/${d}/photo.jpg`, thumb: `dossier_faces/${d}/thumb.jpg`, norm: `dossier_faces/${d}/norm.png` };
      const photo = randomBytes(d === 7 ? 3 * 1024 * 1024 + 17 : 50_000 + d);
      master.put('uploads', files.photo, photo);
      master.put('uploads', files.thumb, randomBytes(3000 + d));
      master.put('ffupload', files.norm, randomBytes(d === 9 ? 0 : 8000));
      content.set(files.photo, photo);
    }
    master.put('uploads', 'secret.txt', Buffer.from('not in the list'));
    writeFileSync(path.join(master.roots.uploads, '..', 'outside.txt'), 'outside the roots');
    masterDirect = new TlsDirectFiles({ listen: '127.0.0.1:0', advertiseHost: '127.0.0.1', tls: await agentTls(MASTER, 'files'), site: MASTER, host: 'files', logger: log, ask: () => Promise.resolve(undefined) });
    const ctx: PartContext = { bus: bus.asBus(), site: MASTER, host: 'files', logger: log, direct: masterDirect };
    publish = publishFilesSpec(ctx, link, new FsFilesAccess(master.roots), new MemoryPositions());
    await publish.before?.();
    const batch = asStream(dossiers.map((d) => {
      const msg = dossier(d, [{ photo: `dossier_faces/${d}/photo.jpg`, thumb: `dossier_faces/${d}/thumb.jpg`, norm: `dossier_faces/${d}/norm.png` }]);
      return { subject: syncSubject(MASTER, 1, 'dossier', d), data: encodeMessage(msg) };
    }));
    await publish.handle(batch);
  });

  afterAll(async () => {
    await publish.after?.();
    await masterDirect.stop();
    tmp.cleanup();
  });

  /** The slave's files part, its direct channel handshaking with `ask`. */
  async function slave(ask: () => Promise<unknown>, site = SLAVE): Promise<{ spec: FollowSpec; direct: TlsDirectFiles; files: FsFilesAccess; roots: { uploads: string; ffupload: string } }> {
    const tree = uploadTree();
    const direct = new TlsDirectFiles({ listen: '127.0.0.1:0', advertiseHost: '127.0.0.1', tls: await agentTls(site, 'files'), site, host: 'files', logger: log, ask });
    const ctx: PartContext = { bus: bus.asBus(), site, host: 'files', logger: log, direct };
    const files = new FsFilesAccess(tree.roots);
    const applied = new FileAppliedFiles(path.join(path.dirname(tree.roots.uploads), 'applied-files'));
    return { spec: applyFilesSpec(ctx, link, files, new MemoryPositions(), applied), direct, files, roots: tree.roots };
  }

  const filesMessages = (): StreamMessage[] => asStream(dossiers.map((d) => {
    const subject = syncSubject(MASTER, 1, 'files', d);
    return { subject, data: bus.last.get(subject) as Uint8Array };
  }));

  it('the link\'s slave gets every named file over the direct channel, checked by SHA-256', async () => {
    const s = await slave(() => Promise.resolve(masterDirect.offerFor(1)));
    const before = bus.natsFetches;
    await s.spec.handle(filesMessages());
    expect(bus.natsFetches - before).toBe(0);
    expect(s.spec.report?.()).toEqual({ filesPath: 'direct' });
    for (const [rel, data] of content) expect(sha(readFileSync(path.join(s.roots.uploads, replicaPath(MASTER, rel))))).toBe(sha(data));
    expect(readFileSync(path.join(s.roots.ffupload, replicaPath(MASTER, 'dossier_faces/9/norm.png'))).length).toBe(0);
    await s.spec.after?.();
  });

  it('a file bigger than the channel sends whole comes over NATS; the channel carries the rest', async () => {
    const small = new TlsDirectFiles({ listen: '127.0.0.1:0', advertiseHost: '127.0.0.1', tls: await agentTls(MASTER, 'files'), site: MASTER, host: 'files', logger: log, ask: () => Promise.resolve(undefined), maxFileBytes: 1024 * 1024 });
    const masterFiles = new FsFilesAccess(master.roots);
    const grant = await small.offer(link, (req, offset, max) => masterFiles.readChunk(req.root, req.rel, offset, max));
    try {
      const s = await slave(() => Promise.resolve(small.offerFor(1)));
      const before = bus.natsFetches;
      await s.spec.handle(filesMessages());
      expect(bus.natsFetches - before).toBe(1); // dossier 7's 3 MiB photo
      expect(s.spec.report?.()).toEqual({ filesPath: 'direct' });
      for (const [rel, data] of content) expect(sha(readFileSync(path.join(s.roots.uploads, replicaPath(MASTER, rel))))).toBe(sha(data));
      await s.spec.after?.();
    } finally {
      await grant.stop();
      await small.stop();
    }
  });

  it('a file the list does not name, or outside the upload roots, is not served', async () => {
    const s = await slave(() => Promise.resolve(masterDirect.offerFor(1)));
    const fetcher = await s.direct.connect(link);
    try {
      await expect(fetcher.fetch({ dossierId: 1, root: 'uploads', rel: 'secret.txt' })).resolves.toBeUndefined();
      await expect(fetcher.fetch({ dossierId: 1, root: 'uploads', rel: '../outside.txt' })).resolves.toBeUndefined();
      // Named, but for another dossier.
      await expect(fetcher.fetch({ dossierId: 2, root: 'uploads', rel: 'dossier_faces/1/photo.jpg' })).resolves.toBeUndefined();
      const ok = await fetcher.fetch({ dossierId: 1, root: 'uploads', rel: 'dossier_faces/1/photo.jpg' });
      expect(sha(ok as Uint8Array)).toBe(sha(content.get('dossier_faces/1/photo.jpg') as Buffer));
    } finally {
      await fetcher.close();
    }
  });

  it('an agent of a site that is no slave of the link is refused', async () => {
    const s = await slave(() => Promise.resolve(masterDirect.offerFor(1)), 'kzn-1');
    const err = await s.direct.connect(link).then(() => undefined, (e: unknown) => e as Error);
    expect(err).toBeInstanceOf(PermissionDeniedError);
    expect(err?.message).toMatch(/refused this agent: agent kzn-1\/files is not an agent of a slave site of a link from msk-1/);
  });

  it('a certificate of another CA is refused at the handshake', async () => {
    const rogueCa = path.join(tmp.dir, 'rogue-ca');
    mkdirSync(rogueCa);
    await initCaDir(rogueCa, { controllerId: 'controller-x', operator: 'x', caName: 'rogue CA' });
    const rogueTls = await issueInto(rogueCa, path.join(tmp.dir, 'rogue-agent'), { kind: 'agent', site: SLAVE, host: 'files' });
    // The rogue trusts the fleet CA to get as far as the master's check of its own certificate.
    const fleetCa = (await agentTls(SLAVE, 'files')).ca;
    const rogue = new TlsDirectFiles({ listen: '127.0.0.1:0', advertiseHost: '127.0.0.1', tls: { ...rogueTls, ca: fleetCa }, site: SLAVE, host: 'files', logger: log, ask: () => Promise.resolve(masterDirect.offerFor(1)) });
    const err = await rogue.connect(link).then(() => undefined, (e: unknown) => e as Error);
    expect(err).toBeInstanceOf(UnreachableError);
    expect(err?.message).toMatch(/cannot be reached|closed before it greeted/);
  });

  it('an unreachable listener (or none offered): the files come over NATS, and the status says so', async () => {
    const closed = await freePort();
    const s = await slave(() => Promise.resolve({ ...masterDirect.offerFor(1), address: `127.0.0.1:${closed}` }));
    const before = bus.natsFetches;
    await s.spec.handle(filesMessages());
    expect(bus.natsFetches - before).toBe(dossiers.length * 3);
    expect(s.spec.report?.()).toEqual({ filesPath: 'nats' });
    for (const [rel, data] of content) expect(sha(readFileSync(path.join(s.roots.uploads, replicaPath(MASTER, rel))))).toBe(sha(data));
    const none = await slave(() => Promise.resolve({}));
    await expect(none.direct.connect(link)).rejects.toThrow(/offers no direct channel for its list 1/);
  });
});
