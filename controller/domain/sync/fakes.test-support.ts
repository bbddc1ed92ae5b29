/** In-memory link, status and check stores for the sync service's unit tests. */
import { ConflictError } from '../../../shared/errors.js';
import type { SyncCheckReport } from '../../../shared/sync/inspect.js';
import type { SyncLink, SyncPartStatus } from '../../../shared/sync/link.js';
import type { SyncCheckStore, SyncLinkStore, SyncStatusStore } from './links.js';

export class MemoryLinks implements SyncLinkStore {
  readonly items = new Map<string, SyncLink>();
  get(id: string): Promise<SyncLink | undefined> {
    return Promise.resolve(this.items.get(id));
  }
  list(): Promise<SyncLink[]> {
    return Promise.resolve([...this.items.values()]);
  }
  create(link: SyncLink): Promise<void> {
    if (this.items.has(link.id)) return Promise.reject(new ConflictError(`sync link '${link.id}' already exists`));
    this.items.set(link.id, link);
    return Promise.resolve();
  }
  update(link: SyncLink): Promise<void> {
    this.items.set(link.id, link);
    return Promise.resolve();
  }
  delete(id: string): Promise<boolean> {
    return Promise.resolve(this.items.delete(id));
  }
}

export class MemoryStatuses implements SyncStatusStore {
  items: SyncPartStatus[] = [];
  list(linkId: string): Promise<SyncPartStatus[]> {
    return Promise.resolve(this.items.filter((s) => s.link === linkId));
  }
  purge(linkId: string): Promise<void> {
    this.items = this.items.filter((s) => s.link !== linkId);
    return Promise.resolve();
  }
}

export class MemoryChecks implements SyncCheckStore {
  items = new Map<string, SyncCheckReport>();
  get(id: string): Promise<SyncCheckReport | undefined> {
    return Promise.resolve(this.items.get(id));
  }
  put(r: SyncCheckReport): Promise<void> {
    this.items.set(r.link, r);
    return Promise.resolve();
  }
  delete(id: string): Promise<void> {
    this.items.delete(id);
    return Promise.resolve();
  }
}
