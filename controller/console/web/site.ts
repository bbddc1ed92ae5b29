/**
 * The site page: agents and components; snapshots (show their components, verify one); schedules and
 * the retention policy; the site's sync links; running and recent jobs; "snapshot now" and the way to
 * the restore wizard.
 */
import type { AgentRow, JobRow, RetentionRow, ScheduleRow, SiteHeader, SnapshotRow, SyncLinkRow } from '../protocol.js';
import { api } from './api.js';
import { fill, h, table, tell } from './dom.js';
import { age, bytes, lagText, ms, time } from './format.js';
import { ViewPage } from './page.js';
import { rows } from './stream.js';

const FINAL = ['Completed', 'PartiallyFailed', 'Failed', 'FailedValidation'];
/** The snapshot job started from this page, by site: still shown after a visit to the job page. */
const startedBySite = new Map<string, string>();

export class SitePage extends ViewPage {
  private readonly summary = h('p', { id: 'summary' });
  private readonly button: HTMLButtonElement;
  private readonly reason = h('span', { class: 'reason', id: 'snapshot-reason' });
  private readonly agents: HTMLTableSectionElement;
  private readonly snapshots: HTMLTableSectionElement;
  private readonly jobs: HTMLTableSectionElement;
  private readonly schedules: HTMLTableSectionElement;
  private readonly retention = h('p', { id: 'retention' });
  private readonly links: HTMLTableSectionElement;
  /** Snapshots whose components are shown (kept open across updates). */
  private readonly shown = new Set<string>();
  /** What the last verify button did (its job, or why it failed). */
  private readonly verifyMessage = h('p', { id: 'verify-message', role: 'status' });
  /** Why starting a snapshot failed. */
  private failure = '';

  constructor(
    main: HTMLElement,
    private readonly site: string,
  ) {
    super();
    this.button = h('button', { id: 'snapshot-now', type: 'button', disabled: true, onclick: () => void this.snapshotNow() }, 'Snapshot now');
    const a = table('agents', ['Host', 'Status', 'Components', ['Version', 'wide']]);
    const s = table('snapshots', ['Time', ['Snapshot', 'wide'], 'Size', ['Added', 'wide'], 'Freeze window', 'Verified', ['Reason', 'wide'], '']);
    const j = table('jobs', [['Job', 'wide'], 'Kind', 'Phase', 'Step', 'Started', ['Error', 'wide']]);
    const sc = table('schedules', ['Kind', 'When', 'Next run', ['Last run', 'wide']]);
    const l = table('site-links', ['Link', 'Role', 'State', 'Lag', ['Last check', 'wide']]);
    [this.agents, this.snapshots, this.jobs, this.schedules, this.links] = [a.body, s.body, j.body, sc.body, l.body];
    fill(
      main,
      h('p', {}, h('a', { href: '#/' }, '← fleet')),
      h('h1', {}, `Site ${site}`),
      this.problem,
      this.summary,
      h('div', { class: 'toolbar' }, this.button, this.reason, h('a', { href: `#/site/${encodeURIComponent(site)}/restore`, id: 'restore-open', class: 'button' }, 'Restore…'), h('a', { href: `#/site/${encodeURIComponent(site)}/migration`, id: 'migration-open', class: 'button' }, 'Model migration…')),
      h('h2', {}, 'Agents'),
      a.wrap,
      h('h2', {}, 'Snapshots'),
      this.verifyMessage,
      s.wrap,
      h('h2', {}, 'Schedules and retention'),
      sc.wrap,
      this.retention,
      h('h2', {}, 'Sync links'),
      l.wrap,
      h('h2', {}, 'Jobs'),
      j.wrap,
    );
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
          h(
            'td',
            {},
            h('details', { open: this.shown.has(r.id), ontoggle: (e: Event) => (e.target as HTMLDetailsElement).open ? this.shown.add(r.id) : this.shown.delete(r.id) }, h('summary', {}, 'show'), h('ul', { class: 'components' }, ...r.components.map((c) => h('li', {}, h('code', {}, c))))),
            h('button', { type: 'button', class: 'verify', 'data-snapshot': r.id, disabled: head?.verifyDenied !== undefined, title: head?.verifyDenied ?? 'check the snapshot in its repository', onclick: () => void this.verify(r.id) }, 'Verify'),
          ),
        ),
      ),
    );
    if (snaps.length === 0) fill(this.snapshots, h('tr', {}, h('td', { colspan: 8, class: 'muted' }, 'no snapshots yet')));
    const schedules = rows<ScheduleRow>(this.state, 'schedule:').sort((x, y) => x.kind.localeCompare(y.kind));
    fill(
      this.schedules,
      ...schedules.map((r) =>
        h('tr', { 'data-kind': r.kind }, h('td', {}, r.kind), h('td', {}, h('code', {}, r.cron), ` ${r.timezone}`), h('td', {}, r.nextRunAt ? time(r.nextRunAt) : '—'), h('td', { class: 'wide' }, r.lastRunAt ? `${age(r.lastRunAt)}${r.lastOutcome ? `: ${r.lastOutcome}` : ''}` : 'not yet')),
      ),
    );
    if (schedules.length === 0) fill(this.schedules, h('tr', {}, h('td', { colspan: 4, class: 'muted' }, 'no schedules (ffkeeper schedule set --site …)')));
    const keep = this.state.retention as RetentionRow | undefined;
    this.retention.textContent = keep
      ? `Retention: keep the last ${keep.keepLast}, ${keep.keepDaily} daily, ${keep.keepWeekly} weekly, ${keep.keepMonthly} monthly (days in ${keep.timezone}).`
      : 'Retention: no policy; every snapshot is kept.';
    const links = rows<SyncLinkRow>(this.state, 'link:').sort((x, y) => x.id.localeCompare(y.id));
    fill(
      this.links,
      ...links.map((r) =>
        h(
          'tr',
          { 'data-link': r.id },
          h('td', {}, h('a', { href: `#/sync/${encodeURIComponent(r.id)}` }, h('code', {}, r.id))),
          h('td', {}, r.from.startsWith(`${this.site}:`) ? `master of list ${r.from.split(':')[1] ?? ''} → ${r.to}` : `slave: list ${r.to.split(':')[1] ?? ''} ← ${r.from}`),
          h('td', {}, h('span', { class: `badge sync-${r.state}` }, r.state)),
          h('td', { class: 'num' }, lagText(r.lagSeconds)),
          h('td', { class: 'wide' }, r.lastCheck ? `${age(r.lastCheck.checkedAt)}: ${r.lastCheck.differences} difference(s)` : 'never'),
        ),
      ),
    );
    if (links.length === 0) fill(this.links, h('tr', {}, h('td', { colspan: 5, class: 'muted' }, 'no sync links')));
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

  private async verify(snapshot: string): Promise<void> {
    tell(this.verifyMessage, `verifying ${snapshot}…`);
    try {
      const { jobId } = await api.verify(this.site, snapshot);
      fill(this.verifyMessage, `verify of ${snapshot}: `, h('a', { href: `#/job/${encodeURIComponent(jobId)}`, id: 'verify-job' }, `job ${jobId}`));
    } catch (err) {
      tell(this.verifyMessage, err instanceof Error ? err.message : String(err), true);
    }
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
