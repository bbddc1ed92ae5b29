/** The one place that puts the agent's `pathPrepend` (e.g. a dev site's shims) first on PATH. */
import path from 'node:path';

/** PATH with `pathPrepend` first, then the process's own PATH (empty entries dropped). */
export function prependedPath(pathPrepend: readonly string[]): string {
  return [...pathPrepend, ...(process.env.PATH ?? '').split(path.delimiter)].filter((p) => p.length > 0).join(path.delimiter);
}

/** Environment overrides for execa: `{ PATH }` when there is something to prepend, else nothing. */
export function pathOverride(pathPrepend: readonly string[]): { PATH?: string } {
  return pathPrepend.length > 0 ? { PATH: prependedPath(pathPrepend) } : {};
}
