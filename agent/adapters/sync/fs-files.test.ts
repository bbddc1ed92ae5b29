import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ValidationError } from '../../../shared/errors.js';
import { FileWorker } from './file-worker.js';
import { FsFilesAccess, SYNC_TMP_DIR } from './fs-files.js';

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

describe('FsFilesAccess', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ffk-fs-files-'));
  const roots = { uploads: path.join(dir, 'uploads'), ffupload: path.join(dir, 'ffupload') };
  const files = new FsFilesAccess(roots);

  /** Writes `text` with its own digest (what the slave's files part does with bytes that match the message). */
  const put = (root: 'uploads' | 'ffupload', rel: string, text: string): Promise<unknown> => files.write(root, rel, Buffer.from(text), sha(Buffer.from(text)));

  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('writes through a temp file in the reserved directory, creating directories; reads back its digest and chunks', async () => {
    const data = Buffer.from('a'.repeat(5000) + 'b'.repeat(5000));
    // A view into a bigger buffer: only its bytes are written.
    const view = new Uint8Array(Buffer.concat([Buffer.from('xx'), data, Buffer.from('yy')]).buffer, 2, data.length);
    expect(await files.write('uploads', 'dossier_faces/000001/1.jpg', view, sha(data))).toEqual({ written: true });
    expect(readFileSync(path.join(roots.uploads, 'dossier_faces/000001/1.jpg')).equals(data)).toBe(true);
    expect(readdirSync(path.join(roots.uploads, SYNC_TMP_DIR))).toEqual([]);
    expect(await files.digest('uploads', 'dossier_faces/000001/1.jpg')).toEqual({ sha256: sha(data), size: data.length });
    expect(await files.hash('uploads', 'dossier_faces/000001/1.jpg')).toBe(sha(data));
    const chunk = await files.readChunk('uploads', 'dossier_faces/000001/1.jpg', 4990, 20);
    expect(chunk?.size).toBe(data.length);
    expect(Buffer.from(chunk?.data ?? []).toString()).toBe('a'.repeat(10) + 'b'.repeat(10));
    expect((await files.readChunk('uploads', 'dossier_faces/000001/1.jpg', 9990, 100))?.data.length).toBe(10);
    // Many at once, over both roots.
    await Promise.all(Array.from({ length: 200 }, (_, i) => put(i % 2 ? 'uploads' : 'ffupload', `d/${i % 7}/${i}.png`, `file ${i}`)));
    expect(readFileSync(path.join(roots.uploads, 'd/3/199.png'), 'utf8')).toBe('file 199');
    expect(readFileSync(path.join(roots.ffupload, 'd/2/100.png'), 'utf8')).toBe('file 100');
  });

  it('a missing file is undefined; a removed one is gone, removing it again is no error', async () => {
    expect(await files.digest('uploads', 'nope/1.jpg')).toBeUndefined();
    expect(await files.readChunk('ffupload', 'nope/1.jpg', 0, 10)).toBeUndefined();
    await put('ffupload', 'gone/1.jpg', 'x');
    await files.remove('ffupload', 'gone/1.jpg');
    expect(existsSync(path.join(roots.ffupload, 'gone/1.jpg'))).toBe(false);
    await files.remove('ffupload', 'gone/1.jpg');
  });

  it('a path leaving its root is refused before any disk work; a disk error names its code and leaves no temp file', async () => {
    await expect(put('uploads', '../../etc/x', 'x')).rejects.toThrow(ValidationError);
    await expect(files.digest('ffupload', '../uploads/d/3/199.png')).rejects.toThrow(/leaves the 'ffupload' upload root/);
    writeFileSync(path.join(roots.uploads, 'plain'), 'a file, not a directory');
    const err = await put('uploads', 'plain/1.jpg', 'x').catch((e: unknown) => e);
    expect((err as NodeJS.ErrnoException).code).toMatch(/^(EEXIST|ENOTDIR)$/);
    expect((err as Error).message).toContain(path.join(roots.uploads, 'plain'));
    expect(readdirSync(path.join(roots.uploads, SYNC_TMP_DIR))).toEqual([]);
  });

  it('writes nothing when the bytes hash to another digest, and says which', async () => {
    // A Buffer view into a bigger buffer (as the TLS channel hands them out): the owner keeps its bytes.
    const frame = Buffer.from('<<changed on the master since>>');
    const data = frame.subarray(2, frame.length - 2);
    expect(await files.write('uploads', 'view/1.jpg', data, sha(data))).toEqual({ written: true });
    expect(frame.toString()).toBe('<<changed on the master since>>');
    expect(await files.write('uploads', 'changed/1.jpg', data, sha(Buffer.from('as published')))).toEqual({ written: false, sha256: sha(data) });
    expect(readFileSync(path.join(roots.uploads, 'view/1.jpg'), 'utf8')).toBe('changed on the master since');
    expect(existsSync(path.join(roots.uploads, 'changed'))).toBe(false);
    expect(readdirSync(path.join(roots.uploads, SYNC_TMP_DIR))).toEqual([]);
  });

  it('hands every call of one turn to the file worker together, and each gets its own answer', async () => {
    const worker = new FileWorker();
    const own = new FsFilesAccess(roots, worker);
    const paths = Array.from({ length: 300 }, (_, i) => `many/${i % 5}/${i}.jpg`);
    await Promise.all(paths.map((p, i) => own.write('ffupload', p, Buffer.from(`many ${i}`), sha(Buffer.from(`many ${i}`)))));
    const [digests, missing] = await Promise.all([Promise.all(paths.map((p) => own.hash('ffupload', p))), Promise.all(paths.map((p) => own.hash('ffupload', `${p}.none`)))]);
    expect(digests).toEqual(paths.map((_, i) => sha(Buffer.from(`many ${i}`))));
    expect(missing.every((d) => d === undefined)).toBe(true);
    // 900 calls in two turns (the writes, then the lookups), each dealt out to the two threads in even
    // shares of at most 256 calls: 150 + 150, then 256 + 256 + 88.
    expect(worker.batches.reduce((a, b) => a + b)).toBe(2 + 3);
    // Bytes that are the whole of their buffer move to the worker instead of being copied.
    // One call a turn: each goes to the thread with the fewest calls unanswered, ties in turn.
    const before = [...worker.batches];
    for (const p of paths.slice(0, 10)) expect(await own.hash('ffupload', p)).toMatch(/^[0-9a-f]{64}$/);
    expect(worker.batches.map((b, i) => b - (before[i] ?? 0))).toEqual([5, 5]);
    const whole = Buffer.allocUnsafeSlow(3);
    whole.write('abc');
    expect(await own.write('ffupload', 'moved/1.jpg', whole, sha(Buffer.from('abc')))).toEqual({ written: true });
    expect(whole.byteLength).toBe(0);
    expect(readFileSync(path.join(roots.ffupload, 'moved/1.jpg'), 'utf8')).toBe('abc');
    await worker.stop();
  });

  it("clears temp files a dead process left, once per root, and keeps a live process's", async () => {
    const root = path.join(dir, 'other');
    const tmp = path.join(root, SYNC_TMP_DIR);
    mkdirSync(tmp, { recursive: true });
    writeFileSync(path.join(tmp, '999999999.1'), 'left by a crash');
    writeFileSync(path.join(tmp, `${process.ppid}.7`), 'another process writing now');
    await new FsFilesAccess({ uploads: root }).write('uploads', 'a/1.jpg', Buffer.from('x'), sha(Buffer.from('x')));
    expect(readdirSync(tmp)).toEqual([`${process.ppid}.7`]);
  });
});
