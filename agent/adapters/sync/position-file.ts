/** `FilePositionStore`: positions of sync parts that have no database to keep them in, one JSON file each (temp + fsync + rename). */
import { open, mkdir, readFile, rename } from 'node:fs/promises';
import path from 'node:path';
import type { PositionStore } from '../../domain/sync/ports.js';

export class FilePositionStore implements PositionStore {
  /** Whether the directory was made (or found) already. */
  private made = false;

  constructor(private readonly dir: string) {}

  private file(key: string): string {
    return path.join(this.dir, `${key.replace(/[^A-Za-z0-9_.-]/g, '_')}.json`);
  }

  async get(key: string): Promise<{ position: number; extra: Record<string, unknown> }> {
    try {
      const raw = JSON.parse(await readFile(this.file(key), 'utf8')) as { position?: unknown; extra?: unknown };
      const position = typeof raw.position === 'number' ? raw.position : 0;
      const extra = typeof raw.extra === 'object' && raw.extra !== null ? (raw.extra as Record<string, unknown>) : {};
      return { position, extra };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { position: 0, extra: {} };
      throw err;
    }
  }

  async set(key: string, position: number, extra: Record<string, unknown> = {}): Promise<void> {
    const target = this.file(key);
    const tmp = `${target}.tmp`;
    const write = async (): Promise<void> => {
      const fh = await open(tmp, 'w');
      try {
        await fh.writeFile(JSON.stringify({ position, extra }));
        await fh.sync();
      } finally {
        await fh.close();
      }
    };
    if (!this.made) await this.makeDir();
    await write().catch(async (err: unknown) => {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      await this.makeDir(); // removed since
      await write();
    });
    await rename(tmp, target);
  }

  private async makeDir(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    this.made = true;
  }
}
