/**
 * Unpacking an upload root's archive for a snapshot import: the root's own entries land in the work
 * directory (its path stripped, files, directories and symlinks kept); an entry outside the root's path,
 * one climbing out with '..', a fifo, or a damaged archive is refused naming it, and nothing is written
 * outside the work directory.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ValidationError } from '../../../../shared/errors.js';
import { unpackRoot } from './import.js';

const dirs: string[] = [];
const tmp = (): string => {
  const d = mkdtempSync(path.join(os.tmpdir(), 'ffk-unpack-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A tree under `<src>/var/lib/ffupload`, archived as `tar -czf … var/lib/ffupload` from `src` (plus `extra` names). */
function archive(build: (root: string, src: string) => void, extra: string[] = [], tarArgs: string[] = []): string {
  const src = tmp();
  const root = path.join(src, 'var/lib/ffupload');
  mkdirSync(root, { recursive: true });
  build(root, src);
  const file = path.join(tmp(), 'var_lib_ffupload.tar.gz');
  execFileSync('tar', ['-czf', file, '-C', src, ...tarArgs, 'var/lib/ffupload', ...extra]);
  return file;
}

describe('unpacking an upload root archive', () => {
  it("puts the root's files, directories and symlinks into the work directory, the root's path stripped", async () => {
    const file = archive((root) => {
      mkdirSync(path.join(root, '2026/12/01'), { recursive: true });
      writeFileSync(path.join(root, '2026/12/01/face.jpg'), 'jpeg');
      symlinkSync('2026/12/01/face.jpg', path.join(root, 'latest.jpg'));
    });
    const out = tmp();
    await unpackRoot(file, out, '/var/lib/ffupload');
    expect(readFileSync(path.join(out, '2026/12/01/face.jpg'), 'utf8')).toBe('jpeg');
    expect(readlinkSync(path.join(out, 'latest.jpg'))).toBe('2026/12/01/face.jpg');
    expect(existsSync(path.join(out, 'var'))).toBe(false);
  });

  it('refuses an entry outside the root, naming it', async () => {
    const file = archive(
      (root, src) => {
        writeFileSync(path.join(root, 'a.jpg'), 'a');
        mkdirSync(path.join(src, 'etc'));
        writeFileSync(path.join(src, 'etc/cron'), 'x');
      },
      ['etc'],
    );
    const out = tmp();
    await expect(unpackRoot(file, out, '/var/lib/ffupload')).rejects.toThrow(/is refused: etc\/?: outside var\/lib\/ffupload\//);
  });

  it("refuses an entry whose name climbs out with '..', and writes nothing outside", async () => {
    const file = archive((root) => writeFileSync(path.join(root, 'evil.jpg'), 'x'), [], ['--transform', 's,evil.jpg,../../../../escaped.jpg,']);
    const base = tmp();
    const out = path.join(base, 'work');
    mkdirSync(out);
    await expect(unpackRoot(file, out, '/var/lib/ffupload')).rejects.toThrow(ValidationError);
    expect(existsSync(path.join(base, 'escaped.jpg'))).toBe(false);
    expect(existsSync(path.join(path.dirname(base), 'escaped.jpg'))).toBe(false);
  });

  it('refuses a fifo', async () => {
    const file = archive((root) => execFileSync('mkfifo', [path.join(root, 'pipe')]));
    await expect(unpackRoot(file, tmp(), '/var/lib/ffupload')).rejects.toThrow(/pipe: a FIFO entry/);
  });

  it('refuses a damaged archive naming it', async () => {
    const file = path.join(tmp(), 'var_lib_ffupload.tar.gz');
    writeFileSync(file, 'not a gzip stream at all');
    await expect(unpackRoot(file, tmp(), '/var/lib/ffupload')).rejects.toThrow(`archive ${file} of upload root /var/lib/ffupload`);
  });

  it('keeps a directory entry itself (an empty directory of the root)', async () => {
    const file = archive((root) => mkdirSync(path.join(root, 'empty')));
    const out = tmp();
    await unpackRoot(file, out, '/var/lib/ffupload');
    expect(lstatSync(path.join(out, 'empty')).isDirectory()).toBe(true);
  });
});
