/**
 * The web console's page: log in with a console token, then the fleet page (#/), a site page
 * (#/site/NAME), its restore wizard (#/site/NAME/restore), its model migration (#/site/NAME/migration), a job page (#/job/ID), the sync links (#/sync)
 * or one link (#/sync/ID), each following its view on the server as Server-Sent Events. Ages are redrawn every
 * few seconds from the timestamps the page has (no traffic).
 */
import type { ConsoleError, ConsoleMe } from '../protocol.js';
import { api, ApiError } from './api.js';
import { byId, fill, h } from './dom.js';
import { FleetPage } from './fleet.js';
import { JobPage } from './job.js';
import { MigrationPage } from './migration.js';
import type { ViewPage } from './page.js';
import { RestorePage } from './restore.js';
import { SitePage } from './site.js';
import { SyncLinkPage, SyncPage } from './sync.js';
import { followView, type ViewStream } from './stream.js';


let current: { stream: ViewStream; page: ViewPage } | undefined;

function showProblem(el: HTMLElement, p: ConsoleError | undefined): void {
  el.hidden = p === undefined;
  el.textContent = p ? p.message : '';
}

function showLogin(message = ''): void {
  current?.stream.close();
  current = undefined;
  fill(byId('who'));
  const input = h('input', { type: 'password', id: 'token', name: 'token', autocomplete: 'off', placeholder: 'ffc1.…', 'aria-label': 'console token', required: true });
  const error = h('p', { id: 'login-error', class: 'error', role: 'alert' }, message);
  const form = h(
    'form',
    {
      id: 'login',
      onsubmit: (e: Event) => {
        e.preventDefault();
        api.login(input.value.trim()).then(
          (me) => {
            showWho(me);
            route();
          },
          (err: unknown) => (error.textContent = err instanceof Error ? err.message : String(err)),
        );
      },
    },
    h('label', { for: 'token' }, 'Console token'),
    input,
    h('button', { type: 'submit' }, 'Log in'),
    error,
  );
  fill(byId('main'), h('div', { class: 'login' }, h('h1', {}, 'ffkeeper console'), h('p', { class: 'muted' }, 'An admin issues tokens with: ffkeeper operators token NAME'), form));
  input.focus();
}

function showWho(me: ConsoleMe): void {
  const logout = h('button', { type: 'button', id: 'logout', onclick: () => void api.logout().finally(() => showLogin()) }, 'Log out');
  fill(byId('who'), h('span', { id: 'operator' }, `${me.operator} (${me.role}${me.sites ? ` of ${me.sites.join(', ')}` : ''})`), logout);
}

function route(): void {
  current?.stream.close();
  const main = byId('main');
  const hash = location.hash;
  const m = /^#\/(site|job|sync)\/([^/]+)(\/restore|\/migration)?$/.exec(hash);
  const name = m ? decodeURIComponent(m[2] as string) : '';
  const enc = encodeURIComponent(name);
  // Each page and the view it follows (the restore wizard follows its site's: the snapshots to choose from).
  const [page, query, title]: [ViewPage, string, string] =
    hash === '#/sync'
      ? [new SyncPage(main), 'view=sync', 'sync']
      : m?.[1] === 'sync'
        ? [new SyncLinkPage(main, name), `view=link&id=${enc}`, `sync ${name}`]
        : m?.[1] === 'job'
          ? [new JobPage(main, name), `view=job&id=${enc}`, name]
          : m?.[1] === 'site' && m[3] === '/migration'
            ? [new MigrationPage(main, name), `view=site&site=${enc}`, `migration ${name}`]
            : m?.[1] === 'site' && m[3]
            ? [new RestorePage(main, name), `view=site&site=${enc}`, `restore ${name}`]
            : m?.[1] === 'site'
              ? [new SitePage(main, name), `view=site&site=${enc}`, name]
              : [new FleetPage(main), 'view=fleet', 'fleet'];
  document.title = `${title} · ffkeeper`;
  const stream = followView(query, {
    render: (state) => page.update(state),
    problem: (p) => showProblem(page.problem, p),
    ended: (reason) => {
      // Logged out or expired: back to the login; otherwise say why the view stopped.
      api.me().then(
        () => showProblem(page.problem, { code: 'UNAVAILABLE', message: `${reason}; reload the page to reconnect` }),
        (err: unknown) => showLogin(err instanceof ApiError && err.status === 401 ? reason : String(err)),
      );
    },
  });
  current = { stream, page };
}

async function start(): Promise<void> {
  window.addEventListener('hashchange', () => {
    if (current) route();
  });
  setInterval(() => current?.page.render(), 10_000);
  try {
    showWho(await api.me());
    route();
  } catch (err) {
    showLogin(err instanceof ApiError && err.status === 401 ? '' : String(err));
  }
}

void start();
