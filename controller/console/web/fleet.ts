/** The fleet page: every site with its agents, newest snapshot (coloured against its schedule), jobs, sync links; a filter box. */
import type { FleetSiteRow } from '../protocol.js';
import { fill, h, table } from './dom.js';
import { age, lagText } from './format.js';
import { ViewPage } from './page.js';
import { rows } from './stream.js';

const FRESHNESS_TITLE: Record<FleetSiteRow['freshness'], string> = {
  ok: 'newest snapshot is on schedule',
  late: 'the last scheduled snapshot did not happen',
  missed: 'two or more scheduled snapshots did not happen',
  none: 'no snapshot schedule',
};

/** What the filter box matches: the site's name and its states (late, missed, offline, running, …). */
function words(r: FleetSiteRow): string {
  return [r.site, r.freshness, r.agentsOnline < r.agentsTotal ? 'offline' : 'online', r.runningJobs.length > 0 ? 'running' : '', ...r.runningJobs, r.lastVerify ?? '', r.sync ? `sync sync-${r.sync.state}` : ''].join(' ').toLowerCase();
}

export class FleetPage extends ViewPage {
  private readonly body: HTMLTableSectionElement;
  private readonly filter: HTMLInputElement;
  private readonly count: HTMLElement;

  constructor(main: HTMLElement) {
    super();
    const t = table('sites', ['Site', 'Agents online', 'Newest snapshot', ['Schedule', 'wide'], 'Last verify', 'Running jobs', 'Sync']);
    this.body = t.body;
    this.filter = h('input', { type: 'search', id: 'filter', placeholder: 'filter: site, late, missed, offline, running…', 'aria-label': 'filter sites', oninput: () => this.render() });
    this.count = h('span', { class: 'muted', id: 'count' });
    fill(main, h('h1', {}, 'Fleet'), this.problem, h('div', { class: 'toolbar' }, this.filter, this.count, h('a', { href: '#/sync', id: 'sync-open', class: 'button' }, 'Sync links')), t.wrap);
  }

  render(): void {
    const all = rows<FleetSiteRow>(this.state, 'site:');
    const q = this.filter.value.trim().toLowerCase();
    const shown = q ? all.filter((r) => q.split(/\s+/).every((w) => words(r).includes(w))) : all;
    this.count.textContent = `${shown.length} of ${all.length} site${all.length === 1 ? '' : 's'}`;
    fill(
      this.body,
      ...shown.map((r) =>
        h(
          'tr',
          { 'data-site': r.site },
          h('td', {}, h('a', { href: `#/site/${encodeURIComponent(r.site)}` }, r.site)),
          h('td', { class: 'agents' }, h('span', { class: `badge ${r.agentsOnline === r.agentsTotal ? 'online' : 'offline'}` }, `${r.agentsOnline}/${r.agentsTotal}`)),
          h('td', { class: `age ${r.freshness}`, title: FRESHNESS_TITLE[r.freshness], 'data-freshness': r.freshness }, age(r.newestSnapshotAt), r.freshness === 'late' || r.freshness === 'missed' ? ` (${r.freshness})` : ''),
          h('td', { class: 'wide muted' }, r.schedule ?? '—'),
          h('td', {}, r.lastVerify ? h('span', { class: `badge ${r.lastVerify === 'ok' ? 'ok' : 'missed'}` }, r.lastVerify) : '—'),
          h('td', { class: 'jobs' }, r.runningJobs.length === 0 ? '—' : r.runningJobs.join(', ')),
          h(
            'td',
            { class: 'sync', 'data-sync': r.sync?.state },
            r.sync ? h('a', { href: '#/sync', title: `${r.sync.links} sync link(s); the worst state and the largest lag` }, h('span', { class: `badge sync-${r.sync.state}` }, r.sync.state), ` lag ${lagText(r.sync.lagSeconds)}`) : '—',
          ),
        ),
      ),
    );
    if (all.length === 0) fill(this.body, h('tr', {}, h('td', { colspan: 7, class: 'muted' }, 'no sites: no agent has announced itself yet')));
  }
}
