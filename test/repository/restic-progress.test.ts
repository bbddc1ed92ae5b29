/**
 * Progress events and throughput on 200 MB of incompressible files against the real restic, and the
 * cost of a second backup of the unchanged tree.
 */
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProgressEvent, ProgressUpdate } from '../../shared/repository/repository.js';
import type { ResticRepository } from '../../shared/repository/restic.js';
import { TempDirs, newRepository, pseudoRandom, treeHash, writeTree } from './helpers.js';

const temp = new TempDirs();
let repo: ResticRepository;
let src: string;
const FILES = 8;
const FILE_SIZE = 25 * 1024 * 1024; // 200 MiB in all

beforeAll(async () => {
  let root: string;
  ({ repo, root } = await newRepository(temp, { progressFps: 10, restorePollIntervalMs: 50 }));
  await repo.init();
  src = path.join(root, 'uploads');
  for (let i = 0; i < FILES; i++) await writeTree(src, { [`dir${i % 3}/f${i}.bin`]: pseudoRandom(`f${i}`, FILE_SIZE) });
});
afterAll(() => temp.cleanup());

function updates(events: ProgressEvent[]): ProgressUpdate[] {
  return events.filter((e): e is ProgressUpdate => e.kind === 'progress');
}

describe('ResticRepository: progress on 200 MiB', () => {
  let firstId = '';

  it('reports backup progress, then the summary, and measures throughput', async () => {
    const events: ProgressEvent[] = [];
    const started = Date.now();
    const summary = await repo.backupFiles({ paths: [src] }, { onProgress: (e) => events.push(e) });
    const seconds = (Date.now() - started) / 1000;
    firstId = summary.snapshotId;
    const total = FILES * FILE_SIZE;
    console.info(`backup 200 MiB: ${seconds.toFixed(2)} s, ${(total / 1048576 / seconds).toFixed(0)} MiB/s, ${updates(events).length} progress events`);
    const progress = updates(events);
    expect(progress.some((e) => e.bytesDone > 0 && e.bytesDone < total)).toBe(true);
    for (let i = 1; i < progress.length; i++) expect(progress[i]?.bytesDone).toBeGreaterThanOrEqual(progress[i - 1]?.bytesDone ?? 0);
    expect(progress.at(-1)).toMatchObject({ bytesDone: total, bytesTotal: total, filesDone: FILES, filesTotal: FILES });
    expect(events.at(-1)).toEqual({ kind: 'summary', summary });
    expect(summary.dataAddedBytes).toBeGreaterThanOrEqual(total);
    expect(summary.dataAddedBytes).toBeLessThan(total * 1.01);
  });

  it('a second backup of the unchanged 200 MiB tree adds under 1 MiB', async () => {
    const started = Date.now();
    const again = await repo.backupFiles({ paths: [src], parentId: firstId });
    console.info(`unchanged re-backup: ${Date.now() - started} ms, ${again.dataAddedBytes} bytes added`);
    expect(again.filesUnmodified).toBe(FILES);
    expect(again.dataAddedBytes).toBeLessThan(1024 * 1024);
  });

  it('reports restore progress (polled) ending at the totals, and restores the same bytes', async () => {
    const target = await temp.make();
    const events: ProgressEvent[] = [];
    const started = Date.now();
    const result = await repo.restore({ snapshotId: firstId, targetDir: target }, { onProgress: (e) => events.push(e) });
    const progress = updates(events);
    console.info(`restore 200 MiB: ${Date.now() - started} ms, ${progress.length} progress events`);
    const total = FILES * FILE_SIZE;
    expect(progress[0]).toEqual({ kind: 'progress', bytesDone: 0, bytesTotal: total, filesDone: 0, filesTotal: FILES });
    expect(progress.at(-1)).toEqual({ kind: 'progress', bytesDone: total, bytesTotal: total, filesDone: FILES, filesTotal: FILES, etaSeconds: 0 });
    expect(progress.every((e) => e.bytesDone <= total && e.filesDone <= FILES)).toBe(true);
    expect(progress.some((e) => e.filesDone > 0 && e.filesDone < FILES)).toBe(true); // advances file by file
    expect(result).toMatchObject({ filesRestored: FILES, bytesRestored: total });
    expect(await treeHash(path.join(target, src))).toEqual(await treeHash(src));
    await rm(target, { recursive: true, force: true });
  });
});
