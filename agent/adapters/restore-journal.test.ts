/** FsRestoreJournal on a real directory: entries survive a new instance (an agent restart); torn or foreign files are named, not trusted. */
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FsRestoreJournal } from './restore-journal.js';

let dir: string | undefined;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

describe('FsRestoreJournal', () => {
  it('keeps one entry per job and component across instances; replaces it on write, drops it on remove', async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'ffk-journal-'));
    const first = new FsRestoreJournal(dir);
    expect(await first.list()).toEqual({ entries: [], problems: [] });
    await first.write({ jobId: 'j1', component: 'tarantool:shard-001', switch: 'staged', state: { staging: '/d/x' } });
    await first.write({ jobId: 'j1', component: 'tarantool:shard-001', switch: 'switching', state: { staging: '/d/x' } });
    await first.write({ jobId: 'j1', component: 'postgres:main', switch: 'staged', state: { database: 'ffsecurity' } });
    const again = new FsRestoreJournal(dir);
    const { entries, problems } = await again.list();
    expect(problems).toEqual([]);
    expect(entries.map((e) => `${e.component} ${e.switch}`).sort()).toEqual(['postgres:main staged', 'tarantool:shard-001 switching']);
    expect(readdirSync(again.dir).every((f) => f.endsWith('.json'))).toBe(true);
    expect(statSync(again.dir).mode & 0o777).toBe(0o700);
    await again.remove('j1', 'postgres:main');
    await again.remove('j1', 'postgres:main');
    expect((await again.list()).entries.map((e) => e.component)).toEqual(['tarantool:shard-001']);
  });

  it('names an entry it cannot read and lists the others', async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'ffk-journal-'));
    const journal = new FsRestoreJournal(dir);
    await journal.write({ jobId: 'j2', component: 'uploads:uploads', switch: 'switched', state: { roots: [] } });
    writeFileSync(path.join(journal.dir, 'torn.json'), '{"jobId":"j2","comp');
    writeFileSync(path.join(journal.dir, 'odd.json'), '{"jobId":"j2","component":"x","switch":"halfway","state":{}}');
    const { entries, problems } = await journal.list();
    expect(entries.map((e) => e.component)).toEqual(['uploads:uploads']);
    expect(problems).toHaveLength(2);
    expect(problems.find((p) => p.includes('odd.json'))).toContain('it lacks jobId, component, switch or state');
    expect(problems.find((p) => p.includes('torn.json'))).toMatch(/torn\.json: .*JSON/);
  });
});
