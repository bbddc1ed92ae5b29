/**
 * The web console's static assets: the HTML shell and the style sheet (here, so tsc builds them into
 * dist/ with everything else), and the page's ES modules, compiled by tsc from controller/console/web/
 * into dist/controller/console/web/. Nothing is loaded from anywhere else: the console works offline.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

/**
 * dist/controller/console/web/, seen from this module compiled (dist/controller/transport/console/) or
 * bundled into the controller (dist/bin/, scripts/bundle.mjs).
 */
const WEB_DIR = ['../../console/web/', '../controller/console/web/']
  .map((rel) => fileURLToPath(new URL(rel, import.meta.url)))
  .find((dir) => existsSync(dir)) ?? fileURLToPath(new URL('../../console/web/', import.meta.url));

export const INDEX_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ffkeeper console</title>
<link rel="stylesheet" href="/app.css">
<script type="module" src="/web/app.js"></script>
</head>
<body>
<header><a href="#/" class="brand">ffkeeper</a><span id="who"></span></header>
<main id="main" aria-live="polite"><p class="muted">loading…</p></main>
</body>
</html>
`;

export const APP_CSS = `
:root { --ok: #1b7f3b; --late: #b26a00; --missed: #b3261e; --muted: #666; --line: #ddd; font-family: system-ui, sans-serif; }
* { box-sizing: border-box; }
body { margin: 0; color: #1d1d1f; background: #fafafa; }
header { display: flex; justify-content: space-between; align-items: center; gap: 1em; padding: .6em 1em; background: #243447; color: #fff; }
header a { color: #fff; text-decoration: none; font-weight: 600; }
header button { margin-left: .8em; }
main { padding: 1em; max-width: 1200px; margin: 0 auto; }
h1 { font-size: 1.3em; margin: .2em 0 .6em; }
h2 { font-size: 1.05em; margin: 1.4em 0 .4em; }
table { border-collapse: collapse; width: 100%; background: #fff; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: .35em .6em; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-weight: 600; font-size: .9em; color: #333; background: #f0f2f5; }
td.num { text-align: right; }
.table-wrap { overflow-x: auto; }
.muted { color: var(--muted); }
.badge { display: inline-block; min-width: 4.5em; padding: .05em .5em; border-radius: .8em; font-size: .85em; text-align: center; color: #fff; background: var(--muted); }
.badge.ok, .badge.online, .badge.Completed { background: var(--ok); }
.badge.late, .badge.InProgress, .badge.New { background: var(--late); }
.badge.missed, .badge.offline, .badge.Failed, .badge.FailedValidation, .badge.PartiallyFailed { background: var(--missed); }
.age.ok { color: var(--ok); } .age.late { color: var(--late); } .age.missed { color: var(--missed); font-weight: 600; }
.toolbar { display: flex; flex-wrap: wrap; gap: .6em; align-items: center; margin-bottom: .8em; }
input[type=search], input[type=password] { padding: .4em .6em; font-size: 1em; min-width: 16em; border: 1px solid #bbb; border-radius: .3em; }
button { padding: .4em .9em; font-size: 1em; border-radius: .3em; border: 1px solid #243447; background: #243447; color: #fff; cursor: pointer; }
button:disabled { background: #ccc; border-color: #ccc; color: #555; cursor: not-allowed; }
button.link { background: none; border: none; color: inherit; text-decoration: underline; padding: 0; }
.reason { color: var(--muted); font-size: .9em; }
a.button { padding: .4em .9em; border-radius: .3em; border: 1px solid #243447; color: #243447; text-decoration: none; }
.choice { margin: .4em 0; }
.badge.sync-running { background: var(--ok); } .badge.sync-error, .badge.sync-stale { background: var(--missed); }
.badge.sync-starting, .badge.sync-resyncing, .badge.sync-waiting { background: var(--late); } .badge.sync-paused { background: var(--muted); }
.choice select, .choice input { max-width: 100%; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .3em 1em; }
dt { font-weight: 600; }
dd { margin: 0; overflow-wrap: anywhere; }
.error { color: var(--missed); }
p.ok { color: var(--ok); }
progress { width: 10em; height: .9em; vertical-align: middle; }
.login { max-width: 34em; margin: 3em auto; background: #fff; padding: 1.5em; border: 1px solid var(--line); border-radius: .5em; }
.login form { display: flex; flex-direction: column; gap: .8em; }
.problem { padding: .5em .8em; background: #fdecea; color: var(--missed); border-radius: .3em; margin-bottom: .8em; }
@media (max-width: 640px) { th.wide, td.wide { display: none; } main { padding: .5em; } }
`;

/** The page's module `name` (e.g. `app.js`), or undefined when there is none by that name or it was not built. */
export async function webModule(name: string): Promise<string | undefined> {
  if (!/^[a-z][a-z0-9-]*\.js$/.test(name)) return undefined;
  try {
    return await readFile(path.join(WEB_DIR, name), 'utf8');
  } catch {
    return undefined;
  }
}
