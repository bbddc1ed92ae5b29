/** The site page: agents and components, snapshots, running and recent jobs, "snapshot now", the way to the restore wizard. */
import type { AgentRow, JobRow, SiteHeader, SnapshotRow, StreamState } from '../protocol.js';
import { api } from './api.js';
import { fill, h, table } from './dom.js';
import { age, bytes, ms, time } from './format.js';
import { rows } from './stream.js';

const FINAL = ['Completed', 'PartiallyFailed', 'Failed', 'FailedValidation'];
/** The snapshot job started from this page, by site: still shown after a visit to the job page. */
const startedBySite = new Map<string, string>();

export class SitePage {
  private state: StreamState = {};
  private readonly summary = h('p', { id: 'summary' });
  private readonly button: HTMLButtonElement;
  private readonly reason = h('span', { class: 'reason', id: 'snapshot-reason' });
  private readonly agents: HTMLTableSectionElement;
  private readonly snapshots: HTMLTableSectionElement;
  private readonly jobs: HTMLTableSectionElement;
  /** Why starting a snapshot failed. */
  private failure = '';
  readonly problem = h('div', { id: 'problem', class: 'problem', hidden: true });

  constructor(
    main: HTMLElement,
    private readonly site: string,
  ) {
    this.button = h('button', { id: 'snapshot-now', type: 'button', disabled: true, onclick: () => void this.snapshotNow() }, 'Snapshot now');
    const a = table('agents', ['Host', 'Status', 'Components', ['Version', 'wide']]);
    const s = table('snapshots', ['Time', ['Snapshot', 'wide'], 'Size', ['Added', 'wide'], 'Freeze window', 'Verified', ['Reason', 'wide']]);
    const j = table('jobs', [['Job', 'wide'], 'Kind', 'Phase', 'Step', 'Started', ['Error', 'wide']]);
    [this.agents, this.snapshots, this.jobs] = [a.body, s.body, j.body];
    fill(
      main,
      h('p', {}, h('a', { href: '#/' }, '← fleet')),
      h('h1', {}, `Site ${site}`),
      this.problem,
      this.summary,
      h('div', { class: 'toolbar' }, this.button, this.reason, h('a', { href: `#/site/${encodeURIComponent(site)}/restore`, id: 'restore-open', class: 'button' }, 'Restore…')),
      h('h2', {}, 'Agents'),
      a.wrap,
      h('h2', {}, 'Snapshots'),
      s.wrap,
      h('h2', {}, 'Jobs'),
      j.wrap,
    );
  }

  update(state: StreamState): void {
    this.state = state;
    this.render();
  }

  render(): void {
    const head = this.state.site as SiteHeader | undefined;
    const jobs = rows<JobRow>(this.state, 'job:').sort((x, y) => y.createdAt.localeCompare(x.createdAt));
    const snapshotRunning = jobs.some((x) => x.kind === 'snapshot' && !FINAL.includes(x.phase));
    if (head) {
      fill(
        this.summary,
        `agents ${head.agentsOnline}/${head.agentsTotal} online · newest snapshot `,
        h('span', { class: `age ${head.freshness}` }, age(head.newestSnapshotAt)),
        head.schedule ? ` · schedule ${head.schedule}${head.freshness !== 'none' ? ` (${head.freshness})` : ''}` : ' · no snapshot schedule',
      );
      const why = head.snapshotDenied ?? (snapshotRunning ? 'a snapshot of this site is running' : '');
      this.button.disabled = why !== '';
      this.button.title = why;
      const mine = jobs.find((x) => x.id === this.startedJob);
      const started = mine ? `snapshot job ${mine.id}: ${mine.phase}${mine.error ? ` — ${mine.error}` : ''}` : this.startedJob ? `snapshot job ${this.startedJob} started` : '';
      const text = head.snapshotDenied ?? (this.failure || started || why);
      fill(this.reason, this.startedJob && !head.snapshotDenied && !this.failure ? h('a', { href: `#/job/${encodeURIComponent(this.startedJob)}`, id: 'started-job' }, text) : text);
      this.reason.classList.toggle('error', this.failure !== '');
    }
    fill(
      this.agents,
      ...rows<AgentRow>(this.state, 'agent:').map((r) =>
        h('tr', { 'data-host': r.host }, h('td', {}, r.host), h('td', {}, h('span', { class: `badge ${r.status}` }, r.status)), h('td', {}, ...r.components.map((c) => h('div', {}, h('code', {}, c.ref), ' ', h('span', { class: 'muted' }, c.detail)))), h('td', { class: 'wide' }, r.version)),
      ),
    );
    const snaps = rows<SnapshotRow>(this.state, 'snapshot:').sort((x, y) => y.createdAt.localeCompare(x.createdAt));
    fill(
      this.snapshots,
      ...snaps.map((r) =>
        h(
          'tr',
          { 'data-snapshot': r.id },
          h('td', {}, time(r.createdAt)),
          h('td', { class: 'wide' }, h('code', {}, r.id)),
          h('td', { class: 'num' }, bytes(r.bytes)),
          h('td', { class: 'num wide' }, bytes(r.dataAddedBytes)),
          h('td', { class: 'num' }, ms(r.freezeWindowMs)),
          h('td', {}, r.verified ? h('span', { class: `badge ${r.verified.ok ? 'ok' : 'missed'}`, title: time(r.verified.time) }, r.verified.ok ? 'verified' : 'failed') : '—'),
          h('td', { class: 'wide muted' }, r.reason),
        ),
      ),
    );
    if (snaps.length === 0) fill(this.snapshots, h('tr', {}, h('td', { colspan: 7, class: 'muted' }, 'no snapshots yet')));
    fill(
      this.jobs,
      ...jobs.map((r) =>
        h('tr', { 'data-job': r.id, 'data-phase': r.phase }, h('td', { class: 'wide' }, h('a', { href: `#/job/${encodeURIComponent(r.id)}` }, h('code', {}, r.id))), h('td', {}, r.kind), h('td', {}, h('span', { class: `badge ${r.phase}` }, r.phase)), h('td', {}, r.step), h('td', {}, age(r.createdAt)), h('td', { class: 'wide error' }, r.error ?? '')),
      ),
    );
    if (jobs.length === 0) fill(this.jobs, h('tr', {}, h('td', { colspan: 6, class: 'muted' }, 'no jobs')));
  }

  private get startedJob(): string {
    return startedBySite.get(this.site) ?? '';
  }

  private set startedJob(id: string) {
    startedBySite.set(this.site, id);
  }

  private async snapshotNow(): Promise<void> {
    this.button.disabled = true;
    this.failure = '';
    try {
      this.startedJob = (await api.snapshotNow(this.site)).jobId;
    } catch (err) {
      this.startedJob = '';
      this.failure = err instanceof Error ? err.message : String(err);
    }
    this.render();
  }
}
