/** Human units for CLI output: sizes (KiB/MiB/GiB), durations (ms/s/m/h) and local date-times. */
import { formatDuration } from '../../shared/duration.js';

export { formatDuration };

const SIZE_UNITS = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB'] as const;

/** `512 B`, `1.5 KiB`, `12.0 MiB`, `3.2 GiB` (binary units, one decimal). */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 1024) return `${Math.max(0, Math.round(bytes || 0))} B`;
  let value = bytes;
  let unit: string = 'B';
  for (const u of SIZE_UNITS) {
    if (value < 1024) break;
    value /= 1024;
    unit = u;
  }
  return `${value.toFixed(1)} ${unit}`;
}

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
