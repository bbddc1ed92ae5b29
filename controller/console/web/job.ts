/** The job page (#/job/ID): the job's phase and step, each component's progress (bytes, files, ETA), the step log, the outcome. */
import type { JobHeader, LogRow, ProgressRow } from '../protocol.js';
import { fill, h, table } from './dom.js';
import { age, bytes, ms, time } from './format.js';
import { ViewPage } from './page.js';
import { rows } from './stream.js';

function eta(seconds: number): string {
  if (seconds <= 0) return '—';
  if (seconds < 90) return `${seconds} s`;
  return `${Math.round(seconds / 60)} min`;
}

export class JobPage extends ViewPage {
  private readonly title = h('h1', {});
  private readonly summary = h('p', { id: 'job-summary' });
  private readonly outcome = h('p', { id: 'job-outcome', role: 'status' });
  /** A restore's report: the snapshot, the safety snapshot, the writers' downtime, the integrity check. */
  private readonly report = h('dl', { id: 'restore-report', hidden: true });
  private readonly progress: HTMLTableSectionElement;
  private readonly log: HTMLTableSectionElement;
  private readonly back = h('a', { href: '#/' }, '← fleet');

  constructor(
    main: HTMLElement,
    private readonly id: string,
  ) {
    super();
    const p = table('progress', ['Component', 'Progress', ['Bytes', 'wide'], 'Files', 'ETA']);
    const l = table('log', ['Time', 'Step', 'Message']);
    [this.progress, this.log] = [p.body, l.body];
    this.title.textContent = `Job ${id}`;
    fill(main, h('p', {}, this.back), this.title, this.problem, this.summary, this.outcome, this.report, h('h2', {}, 'Progress'), p.wrap, h('h2', {}, 'Steps'), l.wrap);
  }

  render(): void {
    const job = this.state.job as JobHeader | undefined;
    if (job) {
      this.back.setAttribute('href', `#/site/${encodeURIComponent(job.site)}`);
      this.back.textContent = `← site ${job.site}`;
      this.title.textContent = `${job.kind} job ${this.id}`;
      fill(this.summary, h('span', { class: `badge ${job.phase}`, id: 'job-phase' }, job.phase), ` step ${job.step} · started ${age(job.createdAt)} · updated ${age(job.updatedAt)}`);
      this.outcome.textContent = job.outcome ? `${job.outcome.phase}${job.outcome.error ? ` — ${job.outcome.error}` : ''}` : '';
      this.outcome.className = job.outcome ? (job.outcome.phase === 'Completed' ? 'ok' : 'error') : '';
      this.renderReport(job);
    }
    const progress = rows<ProgressRow>(this.state, 'progress:').sort((a, b) => a.component.localeCompare(b.component));
    fill(
      this.progress,
      ...progress.map((p) =>
        h(
          'tr',
          { 'data-component': p.component, 'data-percent': p.percent },
          h('td', {}, h('code', {}, p.component)),
          // A fixed-width bar: updates change its fill, never the layout.
          h('td', {}, h('progress', { max: 100, value: p.percent, 'aria-label': `${p.component} ${p.percent}%` }), ` ${p.percent}%`),
          h('td', { class: 'num wide' }, `${bytes(p.bytesDone)} / ${bytes(p.bytesTotal)}`),
          h('td', { class: 'num' }, `${p.filesDone} / ${p.filesTotal}`),
          h('td', { class: 'num' }, eta(p.etaSeconds)),
        ),
      ),
    );
    if (progress.length === 0) fill(this.progress, h('tr', {}, h('td', { colspan: 5, class: 'muted' }, 'no progress reported yet')));
    const log = rows<LogRow>(this.state, 'log:').sort((a, b) => a.n - b.n);
    fill(this.log, ...log.map((l) => h('tr', { 'data-n': l.n }, h('td', {}, time(l.time)), h('td', {}, h('code', {}, l.step)), h('td', {}, l.message))));
  }

  private renderReport(job: JobHeader): void {
    const r = job.restore;
    this.report.hidden = r === undefined;
    if (!r) return;
    const i = r.integrity;
    fill(
      this.report,
      h('dt', {}, 'Snapshot restored'),
      h('dd', {}, r.snapshotId ? h('code', {}, r.snapshotId) : '—'),
      h('dt', {}, 'Safety snapshot'),
      h('dd', { id: 'report-safety' }, r.safetySnapshotId ? h('code', {}, r.safetySnapshotId) : job.outcome ? 'none' : 'not yet taken'),
      h('dt', {}, "FindFace's writers stopped"),
      h('dd', { id: 'report-downtime' }, r.writersStoppedMs > 0 ? ms(r.writersStoppedMs) : '—'),
      h('dt', {}, 'Integrity check'),
      h(
        'dd',
        { id: 'report-integrity', 'data-errors': i?.configured ? i.errors : undefined },
        !i ? (job.outcome ? 'did not run' : 'runs after the restore') : !i.configured ? i.summary : `${i.errors} errors, ${i.warnings} warnings on host ${i.host}${i.summary ? ` — ${i.summary}` : ''}`,
      ),
    );
  }
}
