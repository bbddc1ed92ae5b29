/**
 * A site's model migration page (#/site/NAME/migration): its newest migration (models, shards, counts per
 * gallery, sf-api's downtime, rolled back or finished), then `migrate plan` for a model file (the
 * preconditions, each checked; the shards; the faces and the time estimate) and, typing the site's id, `migrate
 * start`; and the way back or on for the newest migration: roll back to the old shards and model, or finish
 * (remove the old shards). The jobs are followed on their pages. An operator who may not migrate the site sees
 * the controls disabled with the role check's reason.
 */
import type { MigrationPlanAnswer, MigrationRow, SiteHeader } from '../protocol.js';
import { api } from './api.js';
import { fill, h, table, tell } from './dom.js';
import { ms, time } from './format.js';
import { ViewPage } from './page.js';

export class MigrationPage extends ViewPage {
  private plan: MigrationPlanAnswer | undefined;
  private readonly denied = h('p', { id: 'migrate-denied', class: 'error', role: 'alert', hidden: true });
  private readonly last = h('section', { id: 'migration-last' });
  private readonly model = h('input', { type: 'text', id: 'migrate-model', placeholder: 'face/ifruit_320.cpu.fnk', autocomplete: 'off', spellcheck: false, 'aria-label': 'model file' });
  private readonly planButton: HTMLButtonElement;
  private readonly planBox = h('section', { id: 'migration-plan', hidden: true });
  private readonly planSummary = h('dl', { id: 'migration-summary' });
  private readonly checks: HTMLTableSectionElement;
  private readonly shards: HTMLTableSectionElement;
  private readonly confirm = h('input', { type: 'text', id: 'migrate-confirm', autocomplete: 'off', spellcheck: false });
  private readonly regenerate = h('input', { type: 'checkbox', id: 'migrate-regenerate' });
  private readonly start: HTMLButtonElement;
  private readonly endConfirm = h('input', { type: 'text', id: 'migrate-end-confirm', autocomplete: 'off', spellcheck: false });
  private readonly rollback: HTMLButtonElement;
  private readonly finish: HTMLButtonElement;
  private readonly message = h('p', { id: 'migrate-message', role: 'status' });

  constructor(
    main: HTMLElement,
    private readonly site: string,
  ) {
    super();
    this.planButton = h('button', { type: 'button', id: 'migrate-plan-button', onclick: () => void this.showPlan() }, 'Show the plan');
    this.start = h('button', { type: 'button', id: 'migrate-start', disabled: true, onclick: () => void this.run(() => api.migrate(this.site, { toModel: this.plan?.toModel ?? '', regenerateNormalized: this.plan?.regenerateNormalized === true, confirm: this.confirm.value })) }, 'Migrate');
    this.rollback = h('button', { type: 'button', id: 'migrate-rollback', disabled: true, onclick: () => void this.run(() => api.endMigration(this.site, 'rollback', { confirm: this.endConfirm.value })) }, 'Roll back');
    this.finish = h('button', { type: 'button', id: 'migrate-finish', disabled: true, onclick: () => void this.run(() => api.endMigration(this.site, 'finish', { confirm: this.endConfirm.value })) }, 'Finish (remove the old shards)');
    const c = table('migration-checks', ['Check', '', ['What was found', 'wide']]);
    const s = table('migration-shards', ['Host', 'Shard', 'New shard', 'Listen', 'Faces']);
    [this.checks, this.shards] = [c.body, s.body];
    this.model.addEventListener('input', () => this.modelChanged());
    this.regenerate.addEventListener('change', () => this.modelChanged());
    for (const el of [this.confirm, this.endConfirm]) el.addEventListener('input', () => this.renderButtons());
    fill(this.planBox, h('h2', {}, '2. The plan'), this.planSummary, c.wrap, s.wrap, h('h2', {}, '3. Confirm'), h('label', { for: 'migrate-confirm' }, `Type the site's id, ${site}, to migrate it:`), h('div', { class: 'toolbar' }, this.confirm, this.start));
    fill(
      main,
      h('p', {}, h('a', { href: `#/site/${encodeURIComponent(site)}` }, `← site ${site}`)),
      h('h1', {}, `Model migration of site ${site}`),
      this.problem,
      this.denied,
      h('p', { class: 'muted' }, "Every face is re-extracted with the new model into new shards while the site stays readable on the old ones; sf-api switches at the end. A snapshot is taken first; the old shards are kept until you finish."),
      this.last,
      h('h2', {}, '1. The model to migrate to'),
      h('div', { class: 'toolbar' }, this.model, this.planButton),
      h('p', {}, this.regenerate, ' ', h('label', { for: 'migrate-regenerate' }, "A detector change too: make each face's normalized image again from its source photo first (the images replaced are kept until you finish)")),
      this.planBox,
      h('h2', {}, 'Roll back or finish the newest migration'),
      h('label', { for: 'migrate-end-confirm' }, `Type the site's id, ${site}, to roll back or finish:`),
      h('div', { class: 'toolbar' }, this.endConfirm, this.rollback, this.finish),
      this.message,
    );
  }

  render(): void {
    const head = this.state.site as SiteHeader | undefined;
    const why = head?.migrateDenied;
    this.denied.hidden = why === undefined;
    this.denied.textContent = why ?? '';
    const m = this.state.migration as MigrationRow | undefined;
    if (!m) fill(this.last, h('p', { class: 'muted', id: 'migration-none' }, 'This site has not been migrated.'));
    else {
      const state = m.rolledBackBy ? `rolled back (job ${m.rolledBackBy})` : m.finishedBy ? `finished: old shards removed (job ${m.finishedBy})` : m.phase;
      const counts = table('migration-counts', ['Gallery', 'Old shards', 'New shards', 'Failed']);
      fill(counts.body, ...m.counts.map((c) => h('tr', {}, h('td', {}, c.gallery), h('td', { class: 'num' }, c.old), h('td', { class: 'num' }, c.new), h('td', { class: 'num' }, c.failed))));
      fill(
        this.last,
        h('h2', {}, 'The newest migration'),
        h(
          'dl',
          { id: 'migration-newest', 'data-phase': m.phase },
          h('dt', {}, 'Job'),
          h('dd', {}, h('a', { href: `#/job/${encodeURIComponent(m.id)}` }, h('code', {}, m.id)), ` · ${time(m.createdAt)} · `, h('span', { class: `badge ${m.phase}` }, state), m.phase === 'Completed' ? '' : ` at step ${m.step}`),
          h('dt', {}, 'Models'),
          h('dd', {}, `${m.fromModel ?? '?'} → ${m.toModel}`),
          h('dt', {}, 'Shards'),
          h('dd', {}, m.shards.join(', ') || '–'),
          h('dt', {}, 'sf-api down at the switch'),
          h('dd', {}, m.downtimeMs === undefined ? '–' : ms(m.downtimeMs)),
          h('dt', {}, 'Faces not migrated'),
          h('dd', {}, String(m.failedTotal)),
          m.error ? h('dt', {}, 'Error') : null,
          m.error ? h('dd', { class: 'error' }, m.error) : null,
        ),
        m.counts.length > 0 ? counts.wrap : null,
      );
    }
    for (const el of [this.model, this.planButton, this.confirm, this.endConfirm]) el.disabled = why !== undefined || head === undefined;
    this.planButton.title = why ?? '';
    this.renderButtons();
  }

  private modelChanged(): void {
    this.plan = undefined;
    this.planBox.hidden = true;
    this.confirm.value = '';
    this.renderButtons();
  }

  private renderButtons(): void {
    const head = this.state.site as SiteHeader | undefined;
    const off = head === undefined || head.migrateDenied !== undefined;
    const m = this.state.migration as MigrationRow | undefined;
    const open = m !== undefined && !m.rolledBackBy && !m.finishedBy;
    this.start.disabled = off || this.plan?.ready !== true || this.confirm.value !== this.site;
    this.rollback.disabled = off || !open || this.endConfirm.value !== this.site;
    this.finish.disabled = off || !open || m?.phase !== 'Completed' || this.endConfirm.value !== this.site;
  }

  private async showPlan(): Promise<void> {
    this.modelChanged();
    const toModel = this.model.value.trim();
    if (!toModel) return this.say('give the model file, as findface-extraction-api.ini names it', true);
    this.say('planning: the agents report their shards and the extraction-api extracts a sample…');
    try {
      const p = await api.migrationPlan(this.site, toModel, this.regenerate.checked);
      this.plan = p;
      fill(
        this.planSummary,
        h('dt', {}, 'Models'),
        h('dd', { id: 'migration-models' }, `${p.fromModel ?? '?'} → ${p.toModel}`),
        h('dt', {}, 'Faces to re-extract'),
        h('dd', { id: 'migration-faces' }, `${p.faces} (${Object.entries(p.byGallery).map(([g, n]) => `${g} ${n}`).join(', ')})${p.regenerateNormalized ? '; their normalized images made again from the source photos first' : ''}`),
        h('dt', {}, 'Estimate'),
        h('dd', {}, p.estimateSeconds === undefined ? 'no estimate (no extraction sample)' : `about ${ms(p.estimateSeconds * 1000)} at ${Math.round(p.facesPerSecond ?? 0)} faces/s (a measured sample)`),
      );
      fill(this.checks, ...p.checks.map((c) => h('tr', { 'data-ok': String(c.ok) }, h('td', {}, c.name), h('td', { class: c.ok ? 'ok' : 'error' }, c.ok ? 'ok' : 'FAIL'), h('td', { class: 'wide' }, c.detail))));
      fill(this.shards, ...p.shards.map((x) => h('tr', {}, h('td', {}, x.host), h('td', {}, x.from), h('td', {}, x.to), h('td', {}, x.listen), h('td', { class: 'num' }, x.faces))));
      this.planBox.hidden = false;
      this.say(p.ready ? '' : `not ready: ${p.checks.filter((c) => !c.ok).map((c) => c.name).join(', ')}`, !p.ready);
      if (p.ready) this.confirm.focus();
    } catch (err) {
      this.say(err instanceof Error ? err.message : String(err), true);
    }
    this.renderButtons();
  }

  private async run(start: () => Promise<{ jobId: string }>): Promise<void> {
    for (const b of [this.start, this.rollback, this.finish]) b.disabled = true;
    this.say('starting…');
    try {
      const { jobId } = await start();
      location.hash = `#/job/${encodeURIComponent(jobId)}`;
    } catch (err) {
      this.say(err instanceof Error ? err.message : String(err), true);
      this.renderButtons();
    }
  }

  private say(text: string, error = false): void {
    tell(this.message, text, error);
  }
}
