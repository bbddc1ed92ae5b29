/** Durations for people (CLI output and error messages alike). */

/** `850ms`, `1.2s`, `42s`, `3m12s`, `1h05m`: the precision a person wants at each scale. */
export function formatDuration(ms: number): string {
  const v = Math.max(0, ms);
  if (v < 1000) return `${Math.round(v)}ms`;
  if (v < 10_000) return `${(Math.floor(v / 100) / 10).toFixed(1)}s`;
  const s = Math.round(v / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** A restore's downtime for people: `writers stopped for 4.2s of a 3m10s restore`. */
export function formatDowntime(stoppedMs: number, restoreMs: number): string {
  return `writers stopped for ${formatDuration(stoppedMs)} of a ${formatDuration(restoreMs)} restore`;
}
