/**
 * How to run this dev site's own CLI in another process (the writer, the sf-api stand-in, the shims):
 * `node dist/bin/ffkeeper-devsite.mjs` when running bundled (scripts/bundle.mjs), `node
 * dist/deploy/dev-site/cli.js` when running compiled, `node --import tsx deploy/dev-site/cli.ts` when
 * running from source. Resolved from this module's own location, so it works from any cwd.
 * FFK_DEVSITE_CLI names a compiled cli.js or a bundled ffkeeper-devsite.mjs to run instead: the test
 * suite builds dist/ first and sets it, since a shim run through tsx costs 2–3 times the CPU (every
 * systemctl call of every agent is one) and a bundle starts in ~60% of the compiled one's CPU.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export interface CliCommand {
  command: string;
  args: string[];
}

type Entry = 'cli' | 'unit-main';

/** The bundles of the two entry points (scripts/bundle.mjs), side by side in dist/bin/. */
const BUNDLED: Record<Entry, string> = { cli: 'ffkeeper-devsite.mjs', 'unit-main': 'ffkeeper-devsite-unit.mjs' };

/** Entry point `entry` beside `file` (a cli.js, a cli.ts or a bundle). */
function sibling(file: string, entry: Entry): string {
  const ext = path.extname(file);
  return path.join(path.dirname(file), ext === '.mjs' ? BUNDLED[entry] : `${entry}${ext}`);
}

/** The command line that runs `cli.(js|ts)` next to this module (or `entry`, another entry point there). */
export function cliCommand(entry: Entry = 'cli'): CliCommand {
  const compiled = process.env.FFK_DEVSITE_CLI;
  if (compiled) return { command: process.execPath, args: [sibling(compiled, entry)] };
  const here = fileURLToPath(import.meta.url);
  const cli = sibling(here, entry);
  if (path.extname(here) !== '.ts') return { command: process.execPath, args: [cli] };
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
  return { command: process.execPath, args: ['--import', tsx, cli] };
}
