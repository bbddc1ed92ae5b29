/**
 * The sync pages: every watch-list sync link (#/sync) with its state, lag, pending and applied changes,
 * errors and last full comparison; and one link (#/sync/ID) with its parts on each site and the
 * differences its last comparison found. Pause and resume are buttons (operator and admin; a viewer sees
 * them disabled with the reason the role check gives).
 */
import type { SyncDifferenceRow, SyncLinkHeader, SyncLinkRow, SyncPartRow } from '../protocol.js';
import { api } from './api.js';
import { fill, h, table, tell } from './dom.js';
import { age, lagText, time } from './format.js';
import { ViewPage } from './page.js';
import { rows } from './stream.js';


const badge = (state: string): HTMLElement => h('span', { class: `badge sync-${state}`, 'data-state': state }, state);

function lastCheck(r: SyncLinkRow): string {
  const c = r.lastCheck;
  if (!c) return 'never';
  return `${age(c.checkedAt)}: ${c.differences} difference${c.differences === 1 ? '' : 's'}`;
}

/** A pause or resume button for a link; `done` is told what happened (or what went wrong). */
function pauseButton(r: SyncLinkRow, done: (message: string, error: boolean) => void): HTMLButtonElement {
  const pause = !r.paused;
  const b = h('button', { type: 'button', class: 'pause', 'data-link': r.id, disabled: r.pauseDenied !== undefined, title: r.pauseDenied ?? '' }, pause ? 'Pause' : 'Resume');
  b.addEventListener('click', () => {
    b.disabled = true;
    api.setSyncPaused(r.id, pause).then(
      () => done(`link ${r.id} ${pause ? 'paused' : 'resumed'}`, false),
      (err: unknown) => {
        b.disabled = false;
        done(err instanceof Error ? err.message : String(err), true);
      },
    );
  });
  return b;
}

export class SyncPage extends ViewPage {
  private readonly links: HTMLTableSectionElement;
  private readonly message = h('p', { id: 'sync-message', role: 'status' });

  constructor(main: HTMLElement) {
    super();
    const t = table('links', ['Link', ['From → to', 'wide'], 'Mode', 'State', 'Lag', 'Pending', ['Applied', 'wide'], 'Errors', 'Last check', '']);
    this.links = t.body;
    fill(main, h('p', {}, h('a', { href: '#/' }, '← fleet')), h('h1', {}, 'Watch-list sync'), this.problem, this.message, t.wrap);
  }

  render(): void {
    const links = rows<SyncLinkRow>(this.state, 'link:').sort((a, b) => a.id.localeCompare(b.id));
    const say = (text: string, error: boolean): void => tell(this.message, text, error);
    fill(
      this.links,
      ...links.map((r) =>
        h(
          'tr',
          { 'data-link': r.id, 'data-state': r.state },
          h('td', {}, h('a', { href: `#/sync/${encodeURIComponent(r.id)}` }, h('code', {}, r.id))),
          h('td', { class: 'wide' }, `${r.from} → ${r.to}`),
          h('td', {}, r.mode),
          h('td', { title: r.lastError ?? '' }, badge(r.state)),
          h('td', { class: 'num lag' }, lagText(r.lagSeconds)),
          h('td', { class: 'num' }, r.pending),
          h('td', { class: 'num wide' }, r.appliedTotal),
          h('td', { class: r.errors > 0 ? 'num error' : 'num' }, r.errors),
          h('td', { class: 'check' }, lastCheck(r)),
          h('td', {}, pauseButton(r, say)),
        ),
      ),
    );
    if (links.length === 0) fill(this.links, h('tr', {}, h('td', { colspan: 10, class: 'muted' }, 'no sync links (ffkeeper sync link --from SITE:LIST --to SITE:LIST)')));
  }
}

export class SyncLinkPage extends ViewPage {
  private readonly summary = h('dl', { id: 'link-summary' });
  private readonly actions = h('div', { class: 'toolbar', id: 'link-actions' });
  private readonly message = h('p', { id: 'sync-message', role: 'status' });
  private readonly parts: HTMLTableSectionElement;
  private readonly differences: HTMLTableSectionElement;
  private readonly checkLine = h('p', { id: 'link-check' });

  constructor(main: HTMLElement, id: string) {
    super();
    const p = table('parts', ['Part', 'Site/host', 'State', 'Handled', 'Pending', 'Errors', ['Updated', 'wide']]);
    const d = table('differences', ['Kind', 'Key', ['Detail', 'wide']]);
    [this.parts, this.differences] = [p.body, d.body];
    fill(
      main,
      h('p', {}, h('a', { href: '#/sync' }, '← sync links')),
      h('h1', {}, `Sync link ${id}`),
      this.problem,
      this.summary,
      this.actions,
      this.message,
      h('h2', {}, 'Parts'),
      p.wrap,
      h('h2', {}, 'Last full comparison'),
      this.checkLine,
      d.wrap,
    );
  }

  render(): void {
    const l = this.state.link as SyncLinkHeader | undefined;
    if (l) {
      fill(
        this.summary,
        h('dt', {}, 'From → to'),
        h('dd', {}, `list ${l.from} → list ${l.to} (${l.mode}, comparison nightly at ${l.at} ${l.timezone})`),
        h('dt', {}, 'State'),
        h('dd', { id: 'link-state' }, badge(l.state), l.lastError ? h('span', { class: 'error' }, ` ${l.lastError}`) : ''),
        h('dt', {}, 'Lag'),
        h('dd', { id: 'link-lag' }, `${lagText(l.lagSeconds)} · ${l.pending} pending · ${l.appliedTotal} applied · last applied ${age(l.lastAppliedAt)}`),
        h('dt', {}, 'Errors'),
        h('dd', {}, `${l.errors}${l.resyncs > 0 ? ` · ${l.resyncs} full re-sync(s)` : ''}`),
        h('dt', {}, 'Linked'),
        h('dd', {}, `${time(l.createdAt)}${l.safetySnapshot ? ` · safety snapshot ${l.safetySnapshot}` : ''}${l.replacedDossiers !== undefined ? ` · ${l.replacedDossiers} dossier(s) of the slave list replaced` : ''}`),
        h('dt', {}, 'Face models'),
        h('dd', {}, Object.entries(l.models).map(([g, m]) => `${g}: ${m}`).join(', ') || '—'),
      );
      fill(
        this.actions,
        pauseButton(l, (text, error) => tell(this.message, text, error)),
        l.pauseDenied ? h('span', { class: 'reason', id: 'pause-reason' }, l.pauseDenied) : '',
      );
      const c = l.lastCheck;
      this.checkLine.textContent = c
        ? `${time(c.checkedAt)}: ${c.differences} difference(s) over ${c.dossiers} dossiers, ${c.records} records, ${c.files} files${c.requeued > 0 ? ` · ${c.requeued} dossier(s) sent again` : ''}${l.nextRunAt ? ` · next ${time(l.nextRunAt)}` : ''}`
        : `no comparison yet${l.nextRunAt ? ` · next ${time(l.nextRunAt)}` : ''}`;
      this.checkLine.dataset.differences = String(c?.differences ?? '');
    }
    const parts = rows<SyncPartRow>(this.state, 'part:').sort((a, b) => `${a.role}${a.site}${a.host}`.localeCompare(`${b.role}${b.site}${b.host}`));
    fill(
      this.parts,
      ...parts.map((p) =>
        h(
          'tr',
          { 'data-part': p.role },
          h('td', {}, h('code', {}, p.role), p.filesPath ? h('span', { class: 'muted' }, ` (${p.filesPath})`) : ''),
          h('td', {}, `${p.site}/${p.host}`),
          h('td', { title: p.lastError ?? '' }, badge(p.stale ? 'stale' : p.state)),
          h('td', { class: 'num' }, p.handled),
          h('td', { class: 'num' }, p.pending),
          h('td', { class: p.errors > 0 ? 'num error' : 'num' }, p.errors),
          h('td', { class: 'wide' }, age(p.updatedAt)),
        ),
      ),
    );
    if (parts.length === 0) fill(this.parts, h('tr', {}, h('td', { colspan: 7, class: 'muted' }, 'no part has reported yet')));
    const diffs = rows<SyncDifferenceRow>(this.state, 'difference:').sort((a, b) => a.n - b.n);
    fill(this.differences, ...diffs.map((d) => h('tr', { 'data-kind': d.kind }, h('td', {}, d.kind), h('td', {}, h('code', {}, d.key)), h('td', { class: 'wide' }, d.detail))));
    if (diffs.length === 0) fill(this.differences, h('tr', {}, h('td', { colspan: 3, class: 'muted' }, 'none')));
  }
}
