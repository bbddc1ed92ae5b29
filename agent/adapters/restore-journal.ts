/**
 * `FsRestoreJournal`: the agent's restore journal on disk, one JSON file per staged component in
 * `<cacheDir>/restore-journal/` (named by a hash of job and component), each written to a temporary file,
 * synced and renamed over the previous one, then the directory synced: a crash leaves the old entry or
 * the new one, never a torn one.
 */
import { createHash } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import type { JournalEntry, RestoreJournal } from '../domain/ports.js';

const SWITCH_STATES = new Set(['staged', 'switching', 'switched']);

export class FsRestoreJournal implements RestoreJournal {
  readonly dir: string;

  constructor(cacheDir: string) {
    this.dir = path.join(path.resolve(cacheDir), 'restore-journal');
  }

  private fileOf(jobId: string, component: string): string {
    return path.join(this.dir, `${createHash('sha256').update(`${jobId}\n${component}`).digest('hex').slice(0, 24)}.json`);
  }

  async write(entry: JournalEntry): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const file = this.fileOf(entry.jobId, entry.component);
    const tmp = `${file}.tmp`;
    const handle = await open(tmp, 'w', 0o600);
    try {
      await handle.writeFile(`${JSON.stringify(entry)}\n`);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, file);
    await syncDir(this.dir);
  }

  async remove(jobId: string, component: string): Promise<void> {
    await rm(this.fileOf(jobId, component), { force: true });
  }

  async list(): Promise<{ entries: JournalEntry[]; problems: string[] }> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { entries: [], problems: [] };
      throw err;
    }
    const entries: JournalEntry[] = [];
    const problems: string[] = [];
    for (const name of names.filter((n) => n.endsWith('.json')).sort()) {
      const file = path.join(this.dir, name);
      try {
        const e = JSON.parse(await readFile(file, 'utf8')) as Partial<JournalEntry>;
        if (typeof e.jobId !== 'string' || typeof e.component !== 'string' || !SWITCH_STATES.has(String(e.switch)) || typeof e.state !== 'object' || e.state === null) {
          throw new Error('it lacks jobId, component, switch or state');
        }
        entries.push(e as JournalEntry);
      } catch (err) {
        problems.push(`${file}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    return { entries, problems };
  }
}

async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
