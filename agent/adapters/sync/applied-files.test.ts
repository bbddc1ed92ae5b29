import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BUCKET, FileAppliedFiles } from './applied-files.js';

const LINK = 'msk-1.1.spb-1.2';
const dirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(path.join(os.tmpdir(), 'ffk-applied-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('FileAppliedFiles', () => {
  it('keeps each dossier’s files in one file per bucket of ids, replaced per dossier, and an empty list forgets', async () => {
    const dir = tmp();
    const store = new FileAppliedFiles(dir);
    const ids = Array.from({ length: 3 * BUCKET }, (_, i) => 1000 + i);
    await store.set(LINK, new Map(ids.map((id) => [id, [`uploads:r/${id}_photo.jpg`, `ffupload:r/${id}.jpg`]])));
    expect(readdirSync(path.join(dir, LINK))).toHaveLength(4); // 1000..1767 spans buckets 768, 1024, 1280, 1536
    expect(await store.get(LINK, [1000, 1767, 5])).toEqual(new Map([[1000, ['uploads:r/1000_photo.jpg', 'ffupload:r/1000.jpg']], [1767, ['uploads:r/1767_photo.jpg', 'ffupload:r/1767.jpg']]]));

    await store.set(LINK, new Map([[1000, ['uploads:r/1000_new.jpg']], [1001, []]]));
    const again = await new FileAppliedFiles(dir).get(LINK, [1000, 1001, 1002]); // a new process reads the same
    expect(again.get(1000)).toEqual(['uploads:r/1000_new.jpg']);
    expect(again.has(1001)).toBe(false);
    expect(again.get(1002)).toEqual(['uploads:r/1002_photo.jpg', 'ffupload:r/1002.jpg']);
    expect(await store.get('other.1.x.2', [1000])).toEqual(new Map()); // links apart
  });

  it('removes a bucket left empty, and reads a bucket cut short by a crash as empty', async () => {
    const dir = tmp();
    const store = new FileAppliedFiles(dir);
    await store.set(LINK, new Map([[7, ['uploads:a.jpg']]]));
    await store.set(LINK, new Map([[7, []]]));
    expect(readdirSync(path.join(dir, LINK))).toEqual([]);
    writeFileSync(path.join(dir, LINK, '0.json'), '{"7":["uploads:a.j');
    expect(await store.get(LINK, [7])).toEqual(new Map());
    await store.set(LINK, new Map([[8, ['uploads:b.jpg']]]));
    expect(await store.get(LINK, [7, 8])).toEqual(new Map([[8, ['uploads:b.jpg']]]));
  });

  it('moves what the link remembered in the per-dossier files of the earlier layout into its buckets, once', async () => {
    const dir = tmp();
    mkdirSync(dir, { recursive: true });
    const legacy = (name: string, files: unknown): void => writeFileSync(path.join(dir, name), JSON.stringify({ position: 0, extra: { files } }));
    legacy(`${LINK}.12.json`, ['uploads:x/12_photo.jpg']);
    legacy(`${LINK}.300.json`, ['ffupload:x/300.jpg']);
    legacy('other.1.x.2.12.json', ['uploads:y.jpg']);
    writeFileSync(path.join(dir, `${LINK}.13.json`), '{"position":0,"extra":{"fil'); // cut short: dropped
    const store = new FileAppliedFiles(dir);
    expect(await store.get(LINK, [12, 300, 13])).toEqual(new Map([[12, ['uploads:x/12_photo.jpg']], [300, ['ffupload:x/300.jpg']]]));
    expect(existsSync(path.join(dir, `${LINK}.12.json`))).toBe(false);
    expect(existsSync(path.join(dir, `${LINK}.13.json`))).toBe(false);
    expect(existsSync(path.join(dir, 'other.1.x.2.12.json'))).toBe(true); // another link's, moved when that link is used
    expect(await store.get('other.1.x.2', [12])).toEqual(new Map([[12, ['uploads:y.jpg']]]));
  });

  it('refuses a link id that is not a plain name', async () => {
    const store = new FileAppliedFiles(tmp());
    await expect(store.get('../x', [1])).rejects.toThrow("link id '../x' cannot name a directory");
  });
});
