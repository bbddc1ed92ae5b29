/**
 * The restore wizard (#/site/NAME/restore): choose a snapshot or a point in time, see the plan (what is
 * restored where, the safety snapshot, the writers' downtime to expect), type the site's id to confirm,
 * then follow the job on its page (progress, steps, the integrity report). The site restored is the
 * snapshot's own, in place, always with a safety snapshot first. An operator who may not restore the site
 * sees every control disabled and the role check's reason.
 */
import type { RestoreChoice, RestorePlanAnswer, SiteHeader, SnapshotRow } from '../protocol.js';
import { api } from './api.js';
import { fill, h, table, tell } from './dom.js';
import { bytes, ms, time } from './format.js';
import { ViewPage } from './page.js';
import { rows } from './stream.js';

export class RestorePage extends ViewPage {
  private plan: RestorePlanAnswer | undefined;
  private readonly denied = h('p', { id: 'restore-denied', class: 'error', role: 'alert', hidden: true });
  private readonly bySnapshot = h('input', { type: 'radio', name: 'choice', id: 'choice-snapshot', value: 'snapshot', checked: true });
  private readonly byTime = h('input', { type: 'radio', name: 'choice', id: 'choice-before', value: 'before' });
  private readonly snapshot = h('select', { id: 'restore-snapshot', 'aria-label': 'snapshot' });
  private readonly before = h('input', { type: 'datetime-local', id: 'restore-before', step: 1, 'aria-label': 'point in time (your local time)' });
  private readonly planButton: HTMLButtonElement;
  private readonly planBox = h('section', { id: 'restore-plan', hidden: true });
  private readonly planSummary = h('dl', { id: 'plan-summary' });
  private readonly steps: HTMLTableSectionElement;
  private readonly confirm = h('input', { type: 'text', id: 'restore-confirm', autocomplete: 'off', spellcheck: false });
  private readonly start: HTMLButtonElement;
  private readonly message = h('p', { id: 'restore-message', role: 'status' });

  constructor(
    main: HTMLElement,
    private readonly site: string,
  ) {
    super();
    this.planButton = h('button', { type: 'button', id: 'restore-plan-button', onclick: () => void this.showPlan() }, 'Show the plan');
    this.start = h('button', { type: 'button', id: 'restore-start', disabled: true, onclick: () => void this.startRestore() }, 'Restore');
    const s = table('plan-steps', ['Host', 'Component', 'What happens']);
    this.steps = s.body;
    const replan = (): void => this.choiceChanged();
    for (const el of [this.bySnapshot, this.byTime, this.snapshot, this.before]) el.addEventListener('change', replan);
    this.before.addEventListener('input', () => {
      this.byTime.checked = true;
      replan();
    });
    this.confirm.addEventListener('input', () => this.renderConfirm());
    fill(this.planBox, h('h2', {}, '2. The plan'), this.planSummary, s.wrap, h('h2', {}, '3. Confirm'), h('label', { for: 'restore-confirm' }, `Type the site's id, ${site}, to restore it:`), h('div', { class: 'toolbar' }, this.confirm, this.start));
    fill(
      main,
      h('p', {}, h('a', { href: `#/site/${encodeURIComponent(site)}` }, `← site ${site}`)),
      h('h1', {}, `Restore site ${site}`),
      this.problem,
      this.denied,
      h('p', { class: 'muted' }, `The site is restored in place from one of its snapshots. A safety snapshot of ${site} is taken first, so the restore can be undone; FindFace's writers stop only for the switch, after the data is staged.`),
      h('h2', {}, '1. What to restore'),
      h('div', { class: 'choice' }, h('label', {}, this.bySnapshot, ' the snapshot '), this.snapshot),
      h('div', { class: 'choice' }, h('label', {}, this.byTime, ' the newest snapshot before '), this.before),
      h('div', { class: 'toolbar' }, this.planButton),
      this.planBox,
      this.message,
    );
  }

  render(): void {
    const head = this.state.site as SiteHeader | undefined;
    const why = head?.restoreDenied;
    this.denied.hidden = why === undefined;
    this.denied.textContent = why ?? '';
    const snaps = rows<SnapshotRow>(this.state, 'snapshot:').sort((x, y) => y.createdAt.localeCompare(x.createdAt));
    const chosen = this.snapshot.value;
    const ids = snaps.map((r) => r.id).join(' ');
    // Options are rebuilt only when the snapshots change: an open list is not closed by an unrelated update.
    if (this.snapshot.dataset.ids !== ids) {
      this.snapshot.dataset.ids = ids;
      fill(this.snapshot, ...snaps.map((r) => h('option', { value: r.id, selected: r.id === chosen }, `${time(r.createdAt)} · ${r.id} · ${bytes(r.bytes)}`)));
      if (snaps.length === 0) fill(this.snapshot, h('option', { value: '' }, 'no snapshots yet'));
    }
    const off = why !== undefined || head === undefined;
    for (const el of [this.bySnapshot, this.byTime, this.snapshot, this.before, this.planButton, this.confirm]) el.disabled = off;
    this.planButton.title = why ?? '';
    this.renderConfirm();
  }

  private choice(): RestoreChoice | undefined {
    if (this.byTime.checked) return this.before.value ? { before: new Date(this.before.value).toISOString() } : undefined;
    return this.snapshot.value ? { snapshot: this.snapshot.value } : undefined;
  }

  /** A changed choice makes the plan shown stale: it is hidden until asked for again. */
  private choiceChanged(): void {
    this.plan = undefined;
    this.planBox.hidden = true;
    this.confirm.value = '';
    this.renderConfirm();
  }

  private renderConfirm(): void {
    const head = this.state.site as SiteHeader | undefined;
    this.start.disabled = this.plan === undefined || head?.restoreDenied !== undefined || this.confirm.value !== this.site;
  }

  private async showPlan(): Promise<void> {
    this.choiceChanged();
    const choice = this.choice();
    if (!choice) {
      this.say(this.byTime.checked ? 'choose a point in time' : 'this site has no snapshot to restore', true);
      return;
    }
    this.say('planning…');
    try {
      const plan = await api.restorePlan(this.site, choice);
      this.plan = plan;
      const downtime = plan.lastDowntimeMs === undefined ? 'no earlier restore of this site to go by' : `about ${ms(plan.lastDowntimeMs)} (the last restore of this site)`;
      fill(
        this.planSummary,
        h('dt', {}, 'Snapshot'),
        h('dd', { id: 'plan-snapshot', 'data-snapshot': plan.snapshot.id }, h('code', {}, plan.snapshot.id), ` · ${time(plan.snapshot.createdAt)} · ${bytes(plan.snapshot.bytes)} · ${plan.snapshot.reason}`),
        h('dt', {}, 'Restored into'),
        h('dd', {}, `site ${plan.site}, in place`),
        h('dt', {}, 'Safety snapshot'),
        h('dd', { id: 'plan-safety' }, plan.safetySnapshot ? `yes: ${plan.site} is snapshotted first` : 'no'),
        h('dt', {}, "FindFace's writers stopped"),
        h('dd', { id: 'plan-downtime' }, downtime),
      );
      fill(this.steps, ...plan.steps.map((s) => h('tr', {}, h('td', {}, s.host), h('td', {}, s.component ? h('code', {}, s.component) : ''), h('td', {}, s.action))));
      this.planBox.hidden = false;
      this.say('');
      this.confirm.focus();
    } catch (err) {
      this.say(err instanceof Error ? err.message : String(err), true);
    }
    this.renderConfirm();
  }

  private async startRestore(): Promise<void> {
    const choice = this.plan ? { snapshot: this.plan.snapshot.id } : undefined;
    if (!choice) return;
    this.start.disabled = true;
    this.say('starting…');
    try {
      // The snapshot the plan showed, by id: a snapshot sealed since cannot change what is restored.
      const { jobId } = await api.restore(this.site, { choice, confirm: this.confirm.value });
      location.hash = `#/job/${encodeURIComponent(jobId)}`;
    } catch (err) {
      this.say(err instanceof Error ? err.message : String(err), true);
      this.renderConfirm();
    }
  }

  private say(text: string, error = false): void {
    tell(this.message, text, error);
  }
}
