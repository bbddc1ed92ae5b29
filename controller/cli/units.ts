/** Human units for CLI output: sizes (KiB/MiB/GiB), durations (ms/s/m/h) and local date-times. */
import { formatBytes } from '../../shared/bytes.js';
import { formatDuration } from '../../shared/duration.js';

export { formatBytes, formatDuration };


/** An ETA in whole seconds: `5s`, `2m30s`; `?` when unknown (zero or negative). */
export function formatEta(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds <= 0) return '?';
  const s = Math.max(1, Math.round(seconds));
  return s < 60 ? `${s}s` : formatDuration(s * 1000);
}

const pad = (n: number, width = 2): string => String(n).padStart(width, '0');

/** `2026-11-21 17:39:05` in the local time zone. */
export function formatLocalTime(d: Date): string {
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** `2026-11-21 17:39:05.123` in the local time zone (for event logs). */
export function formatLocalTimeMs(d: Date): string {
  return `${formatLocalTime(d)}.${pad(d.getMilliseconds(), 3)}`;
}

/** `42%` of done/total; `-` when the total is unknown. */
export function percent(done: number, total: number): string {
  if (total <= 0) return '-';
  return `${Math.min(100, Math.floor((done / total) * 100))}%`;
}
