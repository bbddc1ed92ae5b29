/**
 * The live display of a job's events (snapshot create --wait, restore): steps and messages as lines,
 * per-component bytes/files/ETA. On a terminal the component block is redrawn in place; otherwise
 * progress is printed as plain lines, at most one batch per interval. Throttling uses the events' own
 * times, so the plain output is deterministic given the events.
 */
import type { JobEvent, JobProgress } from '../../shared/jobs.js';
import type { Terminal } from './terminal.js';
import { formatBytes, formatEta, percent } from './units.js';

export interface ProgressDisplayOptions {
  /** Redraw in place (terminal) or print lines (pipe, file). */
  tty: boolean;
  /** Raw output (no newline added). */
  write(raw: string): void;
  /** Least time between two batches of progress lines (plain) or two redraws (terminal). */
  intervalMs?: number;
  /** Terminal width: lines are cut to it so redrawing can count lines. */
  columns?: number;
}

interface ComponentState {
  progress: JobProgress;
  /** The step the progress belongs to (upload, restore-…). */
  step: string;
  /** Changed since it was last printed (plain mode). */
  dirty: boolean;
}

const BAR_WIDTH = 20;

/** `12.0 MiB/40.0 MiB 30%  3/10 files  ETA 5s`, or `done` parts once complete. */
export function describeProgress(p: JobProgress): string {
  // A count without bytes (a migration's faces): the count alone, in its own unit.
  if (p.bytesTotal === 0 && p.bytesDone === 0 && p.filesTotal > 0) {
    const unit = p.component === 'faces' ? 'faces' : 'files';
    return `${p.filesDone}/${p.filesTotal} ${unit} ${percent(p.filesDone, p.filesTotal)}  ${p.filesDone >= p.filesTotal ? 'done' : `ETA ${formatEta(p.etaSeconds)}`}`;
  }
  const done = p.bytesTotal > 0 && p.bytesDone >= p.bytesTotal && p.filesDone >= p.filesTotal;
  const bytes =
    p.bytesTotal > 0 ? `${formatBytes(p.bytesDone)}/${formatBytes(p.bytesTotal)} ${percent(p.bytesDone, p.bytesTotal)}` : formatBytes(p.bytesDone);
  const files = p.filesTotal > 0 ? `${p.filesDone}/${p.filesTotal} files` : `${p.filesDone} files`;
  return `${bytes}  ${files}  ${done ? 'done' : `ETA ${formatEta(p.etaSeconds)}`}`;
}

function bar(p: JobProgress): string {
  const ratio = p.bytesTotal > 0 ? Math.min(1, p.bytesDone / p.bytesTotal) : p.filesTotal > 0 ? Math.min(1, p.filesDone / p.filesTotal) : 0;
  const full = Math.round(ratio * BAR_WIDTH);
  return `[${'#'.repeat(full)}${'-'.repeat(BAR_WIDTH - full)}]`;
}

/** Sum of all components; its ETA is the longest one still running. */
function total(states: Iterable<ComponentState>): JobProgress {
  const t: JobProgress = { component: 'total', bytesDone: 0, bytesTotal: 0, filesDone: 0, filesTotal: 0, etaSeconds: 0 };
  for (const { progress: p } of states) {
    t.bytesDone += p.bytesDone;
    t.bytesTotal += p.bytesTotal;
    t.filesDone += p.filesDone;
    t.filesTotal += p.filesTotal;
    if (p.bytesDone < p.bytesTotal) t.etaSeconds = Math.max(t.etaSeconds, p.etaSeconds);
  }
  return t;
}

/** `[mm:ss]` since the job's first event. */
function elapsed(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  return `[${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}]`;
}

/** Feeds on a job's events (`onEvent`) and draws them; call `finish()` once the job has ended. */
export class ProgressDisplay {
  private readonly components = new Map<string, ComponentState>();
  private readonly intervalMs: number;
  private startMs: number | undefined;
  private lastBatchMs = Number.NEGATIVE_INFINITY;
  private lastEventMs = 0;
  private drawnLines = 0;
  private finished = false;

  constructor(private readonly options: ProgressDisplayOptions) {
    this.intervalMs = options.intervalMs ?? (options.tty ? 100 : 1000);
  }

  /** Handles one event; bound, so it can be passed as a callback. */
  readonly onEvent = (e: JobEvent): void => {
    const t = e.time.getTime();
    this.startMs ??= t;
    this.lastEventMs = t;
    if (e.outcome) {
      this.finish();
      return;
    }
    if (e.progress) {
      const known = this.components.has(e.progress.component);
      this.components.set(e.progress.component, { progress: e.progress, step: e.step, dirty: true });
      if (!known || t - this.lastBatchMs >= this.intervalMs) this.flush(t);
      return;
    }
    const text = e.message && e.message !== e.step ? `${e.step}: ${e.message}` : e.step || (e.message ?? '');
    this.line(`${elapsed(t - this.startMs)} ${text}`);
  };

  /** Prints what the throttle held back (plain) or the final state (terminal). Idempotent. */
  finish(): void {
    if (this.finished) return;
    this.finished = true;
    if (this.options.tty) this.redraw();
    else this.flushPlain(this.lastEventMs);
  }

  private flush(t: number): void {
    this.lastBatchMs = t;
    if (this.options.tty) this.redraw();
    else this.flushPlain(t);
  }

  private flushPlain(t: number): void {
    for (const [name, state] of this.components) {
      if (!state.dirty) continue;
      state.dirty = false;
      this.options.write(`${elapsed(t - (this.startMs ?? t))} ${state.step} ${name}  ${describeProgress(state.progress)}\n`);
    }
  }

  /** A message line: above the redrawn block on a terminal. */
  private line(text: string): void {
    if (!this.options.tty) {
      this.options.write(`${text}\n`);
      return;
    }
    this.clearBlock();
    this.options.write(`${this.cut(text)}\n`);
    this.drawBlock();
  }

  private redraw(): void {
    this.clearBlock();
    this.drawBlock();
  }

  private clearBlock(): void {
    // Cursor to the start of the block's first line, then clear to the end of the screen.
    if (this.drawnLines > 0) this.options.write(`\x1b[${this.drawnLines}F\x1b[J`);
    this.drawnLines = 0;
  }

  private drawBlock(): void {
    if (this.components.size === 0) return;
    const width = Math.max(5, ...[...this.components.keys()].map((k) => k.length));
    const rows = [...this.components].map(([name, s]) => `  ${name.padEnd(width)}  ${bar(s.progress)}  ${describeProgress(s.progress)}`);
    if (this.components.size > 1) {
      const t = total(this.components.values());
      rows.push(`  ${'total'.padEnd(width)}  ${bar(t)}  ${describeProgress(t)}`);
    }
    this.options.write(rows.map((r) => `${this.cut(r)}\n`).join(''));
    this.drawnLines = rows.length;
  }

  private cut(text: string): string {
    const columns = this.options.columns;
    return columns && columns > 1 && text.length >= columns ? text.slice(0, columns - 1) : text;
  }
}

/** The display a job command shows on the terminal's progress channel; none with `--json`. */
export function progressOn(term: Terminal, json: boolean): ProgressDisplay | undefined {
  if (json) return undefined;
  return new ProgressDisplay({ tty: term.progressTty, write: (raw) => term.progress(raw), ...(term.columns ? { columns: term.columns } : {}) });
}
