/**
 * The comparison of a link's two ends (`sync check`): the controller asks each side's agents for
 * digests of what they hold of the list — rows (per dossier), gallery records (per record) and files
 * (per file) — always keyed by the master's ids and paths (the slave maps its replica ids and paths
 * back), so equal content gives equal digests. `requeue` asks the master to publish dossiers again
 * (the repair of drift: the slave re-applies their current state).
 */
import { ValidationError } from '../errors.js';

/** The slave side of a link, for mapping replica ids and paths back to the master's. */
export interface ReplicaOf {
  number: number;
  masterSite: string;
}

export type InspectRequest =
  | { what: 'rows'; list: number; replica?: ReplicaOf }
  | { what: 'records'; ids: number[]; replica?: ReplicaOf }
  | { what: 'files'; files: { root: 'uploads' | 'ffupload'; rel: string }[]; replica?: ReplicaOf }
  | { what: 'requeue'; list: number; dossierIds: number[] }
  | { what: 'lists' };

/** A watch list as `sync link` checks it. */
export interface WatchListInfo {
  id: number;
  name: string;
  dossiers: number;
}

export interface ItemDigest {
  /** `dossier:<id>`, `record:<id>`, `file:<root>:<rel>` (master ids and paths). */
  key: string;
  digest: string;
  /** Rows only: the master record ids and file keys (`<root>:<rel>`) the dossier's faces name. */
  recordIds?: number[];
  files?: string[];
}

export interface InspectResult {
  items: ItemDigest[];
  /** requeue: how many dossiers were queued. */
  queued?: number;
  /** lists: the site's watch lists. */
  lists?: WatchListInfo[];
}

export interface SyncDifference {
  kind: 'missing-on-slave' | 'extra-on-slave' | 'different' | 'missing-on-master';
  key: string;
  detail: string;
}

export interface SyncCheckReport {
  link: string;
  checkedAt: string;
  dossiers: number;
  records: number;
  files: number;
  differences: SyncDifference[];
  /** Dossiers the master was asked to publish again (repair). */
  requeued: number;
  durationMs: number;
}

/** Parses an inspect request received as JSON; a ValidationError names what is wrong. */
export function parseInspectRequest(json: string): InspectRequest {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch {
    throw new ValidationError('sync inspect request is not JSON');
  }
  const o = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>;
  const ids = (v: unknown, field: string): number[] => {
    if (!Array.isArray(v) || !v.every((x) => Number.isSafeInteger(x) && (x as number) > 0)) throw new ValidationError(`sync inspect request: ${field} is not a list of ids`);
    return v as number[];
  };
  const list = (v: unknown): number => ids([v], 'list')[0] as number;
  const replica = o.replica === undefined ? {} : { replica: o.replica as ReplicaOf };
  switch (o.what) {
    case 'rows':
      return { what: 'rows', list: list(o.list), ...replica };
    case 'records':
      return { what: 'records', ids: ids(o.ids, 'ids'), ...replica };
    case 'requeue':
      return { what: 'requeue', list: list(o.list), dossierIds: ids(o.dossierIds, 'dossierIds') };
    case 'lists':
      return { what: 'lists' };
    case 'files': {
      if (!Array.isArray(o.files)) throw new ValidationError('sync inspect request: files is not a list');
      const files = o.files.map((f: { root?: unknown; rel?: unknown }, i) => {
        if ((f.root !== 'uploads' && f.root !== 'ffupload') || typeof f.rel !== 'string') throw new ValidationError(`sync inspect request: files[${i}] is not {root, rel}`);
        return { root: f.root as 'uploads' | 'ffupload', rel: f.rel };
      });
      return { what: 'files', files, ...replica };
    }
    default:
      throw new ValidationError(`sync inspect request: what '${String(o.what)}' is not rows, records, files, requeue or lists`);
  }
}
