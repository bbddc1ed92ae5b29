/**
 * `FsSandboxStore`: the agent's sandbox area on disk, `<cacheDir>/sandbox/<id>/`, with one directory per
 * component (`<kind>-<name>`) and the ledger `ledger.jsonl` (one resource per line, appended and synced
 * before the resource is made).
 */
import { existsSync } from 'node:fs';
import { appendFile, mkdir, open, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ValidationError } from '../../shared/errors.js';
import { checkSandboxId } from '../../shared/sandbox.js';
import type { SandboxResource } from '../domain/drivers/types.js';
import type { SandboxStore } from '../domain/sandbox/ports.js';

const LEDGER = 'ledger.jsonl';

export class FsSandboxStore implements SandboxStore {
  readonly root: string;

  constructor(cacheDir: string) {
    this.root = path.join(path.resolve(cacheDir), 'sandbox');
  }

  async exists(sandboxId: string): Promise<boolean> {
    return existsSync(this.dirOf(sandboxId));
  }

  async componentDir(sandboxId: string, component: string): Promise<string> {
    const m = /^([a-z-]+):([A-Za-z0-9_-]+)$/.exec(component);
    if (!m) throw new ValidationError(`component '${component}' cannot name a sandbox directory`, { field: 'component' });
    const dir = path.join(this.dirOf(sandboxId), `${m[1]}-${m[2]}`);
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true, mode: 0o755 });
    return dir;
  }

  async record(sandboxId: string, resource: SandboxResource): Promise<void> {
    const dir = this.dirOf(sandboxId);
    await mkdir(dir, { recursive: true });
    const file = path.join(dir, LEDGER);
    await appendFile(file, `${JSON.stringify(resource)}\n`);
    const handle = await open(file, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  }

  async resources(sandboxId: string): Promise<SandboxResource[] | undefined> {
    const dir = this.dirOf(sandboxId);
    if (!existsSync(dir)) return undefined;
    const text = await readFile(path.join(dir, LEDGER), 'utf8').catch(() => '');
    // A line torn by a crash while it was written is skipped: its resource was never made.
    return text.split('\n').flatMap((line) => {
      try {
        return line.trim() ? [JSON.parse(line) as SandboxResource] : [];
      } catch {
        return [];
      }
    });
  }

  async writeFile(sandboxId: string, name: string, content: string): Promise<string> {
    if (!/^[A-Za-z0-9_.-]+$/.test(name) || name === LEDGER) throw new ValidationError(`'${name}' cannot name a sandbox file`, { field: 'name' });
    const dir = this.dirOf(sandboxId);
    await mkdir(dir, { recursive: true });
    const file = path.join(dir, name);
    await writeFile(file, content, { mode: 0o644 });
    return file;
  }

  async list(): Promise<string[]> {
    const entries = await readdir(this.root, { withFileTypes: true }).catch(() => []);
    return entries.filter((e) => e.isDirectory()).map((e) => e.name);
  }

  async remove(sandboxId: string): Promise<boolean> {
    const dir = this.dirOf(sandboxId);
    if (!existsSync(dir)) return false;
    await rm(dir, { recursive: true, force: true });
    return true;
  }

  private dirOf(sandboxId: string): string {
    return path.join(this.root, checkSandboxId(sandboxId));
  }
}
