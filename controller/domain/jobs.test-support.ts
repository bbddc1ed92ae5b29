/** An in-memory JobStore for domain tests (records copied on put, as a KV store keeps them). */
import type { JobRecord } from '../../shared/jobs.js';
import type { JobStore } from './ports.js';

export class MemoryJobs implements JobStore {
  readonly items = new Map<string, JobRecord>();
  put(r: JobRecord): Promise<void> {
    this.items.set(r.id, structuredClone(r));
    return Promise.resolve();
  }
  get(id: string): Promise<JobRecord | undefined> {
    return Promise.resolve(this.items.get(id));
  }
  list(): Promise<JobRecord[]> {
    return Promise.resolve([...this.items.values()]);
  }
}
